package projections

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/custody/custody/domain/corp"
)

// GroupAudienceQuery asks for the customer groups a corp may send a group
// mass message (客户群群发) to on a date.
type GroupAudienceQuery struct {
	// Settings are the corp's: its time zone and mass-message caps (a
	// group's cap counts the group mass messages it received).
	Settings corp.Settings
	// At is any instant of the day asked about.
	At time.Time
	// StaffID keeps one owner's groups (WeCom sends a group mass message
	// through the group's owner).
	StaffID string
}

// GroupAudienceMember is one customer group a group mass message may
// reach, and the member it goes through: the group's owner.
type GroupAudienceMember struct {
	ChatID          string `db:"chat_id" json:"chat_id"`
	OwnerID         string `db:"owner_id" json:"owner_id"`
	CustomerMembers int64  `db:"customer_members" json:"customer_members"`
	// DayUsed, WeekUsed and MonthUsed count the group's mass messages in
	// the windows holding At.
	DayUsed   int64 `db:"day_used" json:"day_used"`
	WeekUsed  int64 `db:"week_used" json:"week_used"`
	MonthUsed int64 `db:"month_used" json:"month_used"`
	// Remaining is what the tightest window still allows; nil when no
	// window is on.
	Remaining *int64 `db:"-" json:"remaining"`
}

// groupAudienceSQL builds the group audience statement for a page after
// chat id `after`. The groups and the owners' status are read from the
// groups and staff projections' tables (group_chats, staff), the caps
// from outreach_deliveries.
func groupAudienceSQL(corpID string, q GroupAudienceQuery, after string, limit int) (string, []any) {
	w := capWindows(q.Settings, q.At)
	args := []any{corpID, w.start[0], w.end[0], w.start[1], w.end[1], w.start[2], w.end[2], w.lo, w.hi}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	conds := []string{"g.corp_id = $1", "g.status = 'active'", "s.status IS DISTINCT FROM 'departed'"}
	if q.StaffID != "" {
		conds = append(conds, "g.owner_id = "+arg(q.StaffID))
	}
	if after != "" {
		conds = append(conds, "g.chat_id > "+arg(after))
	}
	for i, col := range []string{"u.day_used", "u.week_used", "u.month_used"} {
		if w.limit[i] >= 0 {
			conds = append(conds, col+" < "+arg(w.limit[i]))
		}
	}
	sql := `SELECT g.chat_id, g.owner_id, g.customer_members::bigint AS customer_members, u.day_used, u.week_used, u.month_used
		FROM projections.group_chats AS g
		LEFT JOIN projections.staff AS s ON s.corp_id = g.corp_id AND s.staff_id = g.owner_id
		CROSS JOIN LATERAL (
			SELECT count(*) FILTER (WHERE d.sent_at >= $2 AND d.sent_at < $3) AS day_used,
				count(*) FILTER (WHERE d.sent_at >= $4 AND d.sent_at < $5) AS week_used,
				count(*) FILTER (WHERE d.sent_at >= $6 AND d.sent_at < $7) AS month_used
			FROM projections.outreach_deliveries AS d
			WHERE d.corp_id = g.corp_id AND d.recipient_kind = 'group' AND d.recipient_id = g.chat_id
				AND d.counted AND d.sent_at >= $8 AND d.sent_at < $9
		) AS u
		WHERE ` + strings.Join(conds, "\n\t\t\tAND ") + `
		ORDER BY g.chat_id
		LIMIT ` + strconv.Itoa(limit+1)
	return sql, args
}

// GroupAudience lists the customer groups a group mass message may reach
// on q.At, in chat id order, each with the member it goes through: the
// group exists and is not dismissed, its owner has not departed (WeCom
// sends through the owner; a departed owner's groups wait for a transfer),
// and the group has an allowance left in every cap window that is on.
// These are the rules RecordOutreach applies to a group (group_unknown,
// group_dismissed, staff_departed for the owner, cap_*); a send through
// another member than the owner is refused with not_group_owner.
//
// The groups and owners come from the groups and staff projections, which
// follow the log on their own checkpoints: the answer may lag the log by
// moments, as every projection does; the send decides on the log itself.
func (r *Reader) GroupAudience(ctx context.Context, corpID string, q GroupAudienceQuery, page Page) (Paged[GroupAudienceMember], error) {
	after, limit, err := page.keys(1)
	if err != nil {
		return Paged[GroupAudienceMember]{}, err
	}
	sql, args := groupAudienceSQL(corpID, q, after[0], limit)
	items, err := collect[GroupAudienceMember](ctx, r.db, sql, args...)
	if err != nil {
		return Paged[GroupAudienceMember]{}, fmt.Errorf("projections: group audience: %w", err)
	}
	w := capWindows(q.Settings, q.At)
	for i := range items {
		items[i].Remaining = remaining(w, items[i].DayUsed, items[i].WeekUsed, items[i].MonthUsed)
	}
	return paginate(items, limit, func(m GroupAudienceMember) []string { return []string{m.ChatID} }), nil
}
