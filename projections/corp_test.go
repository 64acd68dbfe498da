package projections

import (
	"testing"

	"github.com/custody/custody/events"
)

// corpScenario appends a corp's tag catalog changes and unmatched WeCom
// facts, for c1 and (never to show up in c1's rows) c2.
func corpScenario(w *world) {
	w.add(0, &events.TagCreated{TagID: "g1", Kind: events.TagKindGroup, Name: "Stage"})
	w.add(1, &events.TagCreated{TagID: "t1", Kind: events.TagKindTag, GroupID: "g1", Name: "lead"})
	w.add(2, &events.TagCreated{TagID: "t2", Kind: events.TagKindTag, GroupID: "g1"}) // name not yet fetched
	w.add(3, &events.TagRenamed{TagID: "t2", Kind: events.TagKindTag, Name: "won"})
	w.add(4, &events.TagCreated{TagID: "g2", Kind: events.TagKindGroup, Name: "Region"})
	w.add(5, &events.TagCreated{TagID: "t3", Kind: events.TagKindTag, GroupID: "g2", Name: "north"})
	w.add(6, &events.TagsReordered{TagID: "g1", Kind: events.TagKindTag})
	w.add(7, &events.TagsReordered{Kind: events.TagKindGroup}) // the groups themselves
	w.add(8, &events.TagDeleted{TagID: "g2", Kind: events.TagKindGroup})
	w.add(9, &events.TagRenamed{TagID: "t9", Kind: events.TagKindTag, Name: "before us"}) // created before custody listened
	w.add(10, &events.TagDeleted{TagID: "t1", Kind: events.TagKindTag})
	w.add(11, &events.TagCreated{TagID: "t1", Kind: events.TagKindTag, GroupID: "g1", Name: "lead again"})
	w.add(12, &events.TagsReordered{TagID: "g3", Kind: events.TagKindTag}) // a group custody never saw

	w.add(20, &events.WeComFactUnmatched{Kind: "change_external_contact/del_external_contact", Reason: events.UnmatchedRelationNotActive,
		CustomerID: "cu1", StaffID: "s1", CallbackKey: "k1"})
	w.add(21, &events.WeComFactUnmatched{Kind: "change_external_chat/update/add_member", Reason: events.UnmatchedMember,
		ChatID: "g1", MemberIDs: []string{"cu1", "s2"}, CallbackKey: "k2"})
	w.add(22, &events.WeComFactUnmatched{Kind: "change_external_chat/dismiss", Reason: events.UnmatchedChatNotCreated,
		ChatID: "g9", CallbackKey: "k3"})
	w.add(23, &events.WeComFactUnmatched{Kind: "again", Reason: events.UnmatchedOther, CallbackKey: "k1"}) // the first fact of a key stays

	w.addAt(minute(5), "c2", &events.TagCreated{TagID: "g1", Kind: events.TagKindGroup, Name: "Other"})
	w.addAt(minute(5), "c2", &events.WeComFactUnmatched{Kind: "x", Reason: events.UnmatchedOther, CallbackKey: "k1"})
}

func TestCorpEventsExpectedRows(t *testing.T) {
	pool := newDB(t)
	w := newWorld(t)
	r := newRunner(t, pool, w.log, 3) // small batches: the scenario spans many transactions
	corpScenario(w)
	catchUp(t, r)

	q := func(sql string) []string { return rows(t, pool, sql) }
	assertRows(t, "tags", q(`SELECT tag_id, kind, group_id, name, deleted, created_at, updated_at, reordered_at
		FROM projections.tags WHERE corp_id = 'c1' ORDER BY tag_id`), []string{
		`g1 tag_group "" Stage false m0 m7 m7`,
		`g2 tag_group "" Region true m4 m8 m7`,
		`g3 tag "" "" false - m12 m12`,
		`t1 tag g1 lead again false m11 m11 -`,
		`t2 tag g1 won false m2 m3 -`,
		`t3 tag g2 north true m5 m8 -`,
		`t9 tag "" before us false - m9 -`,
	})
	assertRows(t, "wecom_unmatched", q(`SELECT callback_key, kind, reason, customer_id, staff_id, chat_id, member_ids,
		occurred_at, recorded_at FROM projections.wecom_unmatched WHERE corp_id = 'c1' ORDER BY callback_key`), []string{
		`k1 change_external_contact/del_external_contact relation_not_active cu1 s1 "" [] m20 m0`,
		`k2 change_external_chat/update/add_member member "" "" g1 [cu1|s2] m21 m0`,
		`k3 change_external_chat/dismiss chat_not_created "" "" g9 [] m22 m0`,
	})
	assertRows(t, "reasons in the last 7 days", q(`SELECT reason, count(*) FROM projections.wecom_unmatched
		WHERE corp_id = 'c1' AND occurred_at >= '2026-03-02 09:23:00+00'::timestamptz - interval '7 days'
		GROUP BY reason ORDER BY count(*) DESC, reason`), []string{
		"chat_not_created 1",
		"member 1",
		"relation_not_active 1",
	})
	if n := assertEqualsCleanRebuild(t, pool, w.log, []Projection{Tags{}, WeComUnmatched{}}); n == 0 {
		t.Fatal("no rows compared")
	}
}
