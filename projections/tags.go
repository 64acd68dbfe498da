package projections

import (
	"github.com/custody/custody/events"
)

// Tags is the "tags" projection: table tags, a corp's enterprise tag
// catalog (企业标签) as WeCom reports it (tag.* on events.CorpTagsStream),
// one row per tag or tag group.
//
//   - tag.created sets the row anew (a deleted entry created again is live
//     again; its reordered_at stays);
//   - tag.renamed sets the name;
//   - tag.deleted flags the entry deleted; deleting a tag group flags the
//     tags of that group too (WeCom deletes a group with its tags);
//   - tag.reordered stamps reordered_at on the group whose tags were
//     reordered, or on every live group of the corp when the groups
//     themselves were.
//
// An event about an entry without a row (its tag.created came before
// custody listened) creates the row with created_at null and the kind the
// event names. Tag events are rare: each is one statement.
type Tags struct{}

// Name implements Projection.
func (Tags) Name() string { return "tags" }

// Tables implements Projection.
func (Tags) Tables() []string { return []string{"tags"} }

// Migrations implements Projection.
func (Tags) Migrations() []string { return migrations("tags") }

// Apply implements Projection.
func (Tags) Apply(w *Writer, e Event) error {
	corp, at := e.CorpID, e.OccurredAt
	switch p := e.Payload.(type) {
	case *events.TagCreated:
		w.Queue(`INSERT INTO {s}.tags AS t (corp_id, tag_id, kind, group_id, name, deleted, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, false, $6, $6)
			ON CONFLICT (corp_id, tag_id) DO UPDATE SET kind = excluded.kind, group_id = excluded.group_id,
				name = excluded.name, deleted = false, created_at = excluded.created_at, updated_at = excluded.updated_at`,
			corp, p.TagID, p.Kind, p.GroupID, p.Name, at)
	case *events.TagRenamed:
		w.Queue(`INSERT INTO {s}.tags AS t (corp_id, tag_id, kind, name, updated_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (corp_id, tag_id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at`,
			corp, p.TagID, p.Kind, p.Name, at)
	case *events.TagDeleted:
		w.Queue(`INSERT INTO {s}.tags AS t (corp_id, tag_id, kind, deleted, updated_at)
			VALUES ($1, $2, $3, true, $4)
			ON CONFLICT (corp_id, tag_id) DO UPDATE SET deleted = true, updated_at = excluded.updated_at`,
			corp, p.TagID, p.Kind, at)
		if p.Kind == events.TagKindGroup {
			w.Queue(`UPDATE {s}.tags SET deleted = true, updated_at = $3
				WHERE corp_id = $1 AND group_id = $2 AND tag_id <> $2 AND NOT deleted`,
				corp, p.TagID, at)
		}
	case *events.TagsReordered:
		if p.TagID == "" {
			w.Queue(`UPDATE {s}.tags SET reordered_at = $2, updated_at = $2
				WHERE corp_id = $1 AND kind = 'tag_group' AND NOT deleted`,
				corp, at)
			break
		}
		w.Queue(`INSERT INTO {s}.tags AS t (corp_id, tag_id, kind, updated_at, reordered_at)
			VALUES ($1, $2, $3, $4, $4)
			ON CONFLICT (corp_id, tag_id) DO UPDATE SET reordered_at = excluded.reordered_at, updated_at = excluded.updated_at`,
			corp, p.TagID, p.Kind, at)
	}
	return nil
}
