package projections

import (
	"github.com/custody/custody/events"
)

// WeComUnmatched is the "wecom_unmatched" projection: table
// wecom_unmatched, one row per WeCom callback custody's state contradicted
// (wecom.fact_unmatched), with its ids and reason — what reconciliation
// with WeCom's API has to look at. A fact is keyed by its callback key;
// should a log hold the same key twice, the first fact stays. Only ids:
// nothing here is personal data.
type WeComUnmatched struct{}

// Name implements Projection.
func (WeComUnmatched) Name() string { return "wecom_unmatched" }

// Tables implements Projection.
func (WeComUnmatched) Tables() []string { return []string{"wecom_unmatched"} }

// Migrations implements Projection.
func (WeComUnmatched) Migrations() []string { return migrations("wecom_unmatched") }

// Apply implements Projection.
func (WeComUnmatched) Apply(w *Writer, e Event) error {
	p, ok := e.Payload.(*events.WeComFactUnmatched)
	if !ok {
		return nil
	}
	members := p.MemberIDs
	if members == nil {
		members = []string{}
	}
	w.Queue(`INSERT INTO {s}.wecom_unmatched (corp_id, callback_key, kind, reason, customer_id, staff_id, chat_id,
			member_ids, occurred_at, recorded_at, commit_pos, prepare_pos)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (corp_id, callback_key) DO NOTHING`,
		e.CorpID, p.CallbackKey, p.Kind, p.Reason, p.CustomerID, p.StaffID, p.ChatID,
		members, e.OccurredAt, e.RecordedAt, int64(e.Position.Commit), int64(e.Position.Prepare))
	return nil
}
