package ingest_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"reflect"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/adapters/driving/wecom/ingest"
	"github.com/custody/custody/adapters/driving/wecom/receiver"
	"github.com/custody/custody/adapters/driving/wecom/standin"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/tags"
	"github.com/custody/custody/events"
	"github.com/custody/custody/projections"
)

// TestSimulatedDayEndsEqualToWeCom plays a WeCom day through the real
// receiver — signed, encrypted callbacks with WeCom's duplicates, re-sealed
// retries and dialect quirks — with group and tag details fetched by the
// real API client from the stand-in's API over HTTP, and checks that custody's projections end
// equal to the stand-in's WeCom-side state: every relation, every group
// with its members, every tag. Callbacks are not lost here (a lost
// callback needs the API reconciliation to be repaired).
func TestSimulatedDayEndsEqualToWeCom(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	for _, m := range []func(context.Context, *pgxpool.Pool) error{pgstore.Migrate, projections.Migrate, inbox.Migrate, connection.Migrate, pii.Migrate} {
		if err := m(ctx, pool); err != nil {
			t.Fatal(err)
		}
	}
	keyring := pii.NewMemoryKeyring()
	log, err := pgstore.New(ctx, pool, pgstore.Options{Keyring: keyring})
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := commands.New(commands.Options{Log: log, Eraser: keyring, Settings: commands.DefaultSettings{}})
	if err != nil {
		t.Fatal(err)
	}
	const (
		corpid = "wwdaycorp0001"
		token  = "DayToken1"
		aesKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	)
	conns := connection.NewStore(pool, keyring)
	if _, err := conns.Connect(ctx, connection.Connection{CorpID: "acme", WeComCorpID: corpid,
		Current: connection.Key{Token: token, EncodingAESKey: aesKey}, Secret: "DaySecret"}, 0); err != nil {
		t.Fatal(err)
	}
	ib := inbox.New(pool)
	recv, err := receiver.New(receiver.Options{Connections: conns, Inbox: ib})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(recv)
	defer srv.Close()

	res, err := standin.Simulate(ctx, standin.SimulateOptions{
		Day: standin.DayOptions{Corp: standin.Options{CorpID: corpid, Token: token, EncodingAESKey: aesKey}, Seed: 20261205, Events: 300},
		Emitter: standin.EmitterOptions{URL: srv.URL, Corp: "acme",
			Habits: standin.Habits{Duplicate: 0.1, Concurrent: 0.5, Reseal: 0.5, Quirk: 0.3}},
		Verify: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Lost != 0 || res.Stats.Duplicated == 0 || res.Stats.Quirked == 0 {
		t.Fatalf("delivery stats %+v: want no loss, some duplicates and quirks", res.Stats)
	}
	wecomAPI := standin.NewAPIServer(standin.APIOptions{})
	wecomAPI.AddCorp(res.Corp, "DaySecret")
	apiSrv := httptest.NewServer(wecomAPI)
	defer apiSrv.Close()
	clients := api.NewClients(conns, api.Options{BaseURL: apiSrv.URL})
	tr := ingest.New(cmds, log, ib).WithDetails(api.Details{Clients: clients.Client})
	for {
		d, err := ib.Drain(ctx, 1000, tr.Translate)
		if err != nil {
			t.Fatal(err)
		}
		if d.Done+d.Unknown+d.Rejected == 0 {
			break
		}
	}
	counts, err := ib.Counts(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if counts[inbox.StatusRejected] != 0 || counts[inbox.StatusUnknown] != 0 {
		rejected, _ := ib.List(ctx, "acme", inbox.StatusRejected, 0, 20)
		for _, it := range rejected {
			t.Logf("rejected %s: %s", it.Kind, it.LastError)
		}
		t.Fatalf("inbox %v: every callback of the day should translate", counts)
	}
	if counts[inbox.StatusDone] >= len(res.Callbacks)+int(res.Stats.Duplicated) {
		t.Fatalf("inbox holds %d callbacks for %d facts: duplicates were stored twice", counts[inbox.StatusDone], len(res.Callbacks))
	}
	runner, err := projections.NewRunner(pool, log, projections.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runner.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	want := res.Corp.Snapshot()

	// Relations: the active pairs.
	var wantPairs []string
	for _, f := range want.Follows {
		if !f.Deleted {
			wantPairs = append(wantPairs, f.ExternalUserID+"/"+f.UserID)
		}
	}
	gotPairs := queryStrings(t, pool, `SELECT customer_id || '/' || staff_id FROM projections.relations WHERE corp_id = 'acme' AND status = 'active'`)
	sort.Strings(wantPairs)
	if !reflect.DeepEqual(gotPairs, wantPairs) {
		t.Errorf("active relations differ:\ncustody %v\nWeCom   %v", gotPairs, wantPairs)
	}

	// Groups: live ones with owner, name and members; dismissed ones.
	var wantGroups, wantMembers []string
	for _, g := range want.Groups {
		if g.Dismissed {
			wantGroups = append(wantGroups, g.ChatID+" dismissed")
			continue
		}
		wantGroups = append(wantGroups, fmt.Sprintf("%s owner=%s name=%s notice=%s", g.ChatID, g.Owner, g.Name, g.Notice))
		for _, m := range g.Members {
			wantMembers = append(wantMembers, g.ChatID+"/"+m.UserID)
		}
	}
	sort.Strings(wantGroups)
	sort.Strings(wantMembers)
	gotGroups := queryStrings(t, pool, `SELECT CASE WHEN status = 'dismissed' THEN chat_id || ' dismissed'
		ELSE chat_id || ' owner=' || owner_id || ' name=' || name || ' notice=' || notice END
		FROM projections.group_chats WHERE corp_id = 'acme'`)
	if !reflect.DeepEqual(gotGroups, wantGroups) {
		t.Errorf("groups differ:\ncustody %v\nWeCom   %v", gotGroups, wantGroups)
	}
	gotMembers := queryStrings(t, pool, `SELECT m.chat_id || '/' || m.member_id FROM projections.group_members m
		JOIN projections.group_chats g USING (corp_id, chat_id) WHERE m.corp_id = 'acme' AND g.status <> 'dismissed'`)
	if !reflect.DeepEqual(gotMembers, wantMembers) {
		t.Errorf("group members differ:\ncustody %v\nWeCom   %v", gotMembers, wantMembers)
	}

	// Tags: the catalog's live ids (names come from the API).
	recs, err := log.ReadStream(ctx, events.CorpTagsStream("acme"), 0)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := tags.Rehydrate(recs)
	if err != nil {
		t.Fatal(err)
	}
	var wantTags, gotTags []string
	for _, g := range want.TagGroups {
		if g.Deleted {
			continue
		}
		wantTags = append(wantTags, g.ID+" "+g.Name)
		for _, tg := range g.Tags {
			if !tg.Deleted {
				wantTags = append(wantTags, tg.ID+" "+tg.Name+" in "+g.ID)
			}
		}
	}
	sort.Strings(wantTags)
	for _, tg := range cat.Live() {
		if tg.Kind == events.TagKindGroup {
			gotTags = append(gotTags, tg.ID+" "+tg.Name)
		} else {
			gotTags = append(gotTags, tg.ID+" "+tg.Name+" in "+tg.GroupID)
		}
	}
	sort.Strings(gotTags)
	if !reflect.DeepEqual(gotTags, wantTags) {
		t.Errorf("live tags differ:\ncustody %v\nWeCom   %v", gotTags, wantTags)
	}
	if wecomAPI.Calls(standin.APIGroupChatGet) == 0 || wecomAPI.Calls(standin.APICorpTagList) == 0 {
		t.Errorf("details were not fetched through the API: groupchat/get %d, get_corp_tag_list %d", wecomAPI.Calls(standin.APIGroupChatGet), wecomAPI.Calls(standin.APICorpTagList))
	}
	t.Logf("day: %d callbacks, %+v; inbox %v; %d relations, %d groups, %d members, %d tags",
		len(res.Callbacks), res.Stats, counts, len(wantPairs), len(wantGroups), len(wantMembers), len(wantTags))
}

func queryStrings(t *testing.T, pool *pgxpool.Pool, sql string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql+" ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}
