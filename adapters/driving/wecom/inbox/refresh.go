package inbox

import (
	"context"
	"fmt"
	"time"
)

// Refresh kinds.
const (
	RefreshContact = "contact"
	RefreshChat    = "chat"
	RefreshTag     = "tag"
)

// Refresh is a detail to fetch from WeCom's API.
type Refresh struct {
	CorpID, Kind, Subject, StaffID, Reason string
	RequestedAt                            time.Time
}

// MarkRefresh asks for a detail fetch; asking again for the same detail
// keeps one entry with the latest time and reason.
func (b *Inbox) MarkRefresh(ctx context.Context, r Refresh) error {
	_, err := b.pool.Exec(ctx, `
		INSERT INTO wecom.refresh (corp_id, kind, subject, staff_id, reason) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (corp_id, kind, subject, staff_id) DO UPDATE SET reason = EXCLUDED.reason, requested_at = now()`,
		r.CorpID, r.Kind, truncate(r.Subject, 200), truncate(r.StaffID, 200), truncate(r.Reason, 200))
	if err != nil {
		return fmt.Errorf("wecom inbox: mark refresh: %w", err)
	}
	return nil
}

// Refreshes lists a corp's requested detail fetches, oldest first.
func (b *Inbox) Refreshes(ctx context.Context, corpID string, limit int) ([]Refresh, error) {
	rows, err := b.pool.Query(ctx, `
		SELECT corp_id, kind, subject, staff_id, reason, requested_at FROM wecom.refresh
		 WHERE corp_id = $1 ORDER BY requested_at, kind, subject, staff_id LIMIT $2`, corpID, limit)
	if err != nil {
		return nil, fmt.Errorf("wecom inbox: refreshes: %w", err)
	}
	defer rows.Close()
	var out []Refresh
	for rows.Next() {
		var r Refresh
		if err := rows.Scan(&r.CorpID, &r.Kind, &r.Subject, &r.StaffID, &r.Reason, &r.RequestedAt); err != nil {
			return nil, fmt.Errorf("wecom inbox: refreshes: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DoneRefresh removes a fetched detail's entry if it was not asked for
// again since requestedAt.
func (b *Inbox) DoneRefresh(ctx context.Context, r Refresh) error {
	_, err := b.pool.Exec(ctx, `
		DELETE FROM wecom.refresh WHERE corp_id = $1 AND kind = $2 AND subject = $3 AND staff_id = $4 AND requested_at <= $5`,
		r.CorpID, r.Kind, r.Subject, r.StaffID, r.RequestedAt)
	if err != nil {
		return fmt.Errorf("wecom inbox: done refresh: %w", err)
	}
	return nil
}
