package timeline

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/events"
)

// Querier runs a query: *pgxpool.Pool, *pgx.Conn and pgx.Tx satisfy it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Membership finds group chats in the projections' group membership history
// (table group_membership_history of the "groups" projection). It is as
// current as that projection: a join not projected yet is missing.
type Membership struct {
	DB Querier
	// Schema holds the projection's tables; "projections" (the live
	// schema) when empty, or a replay schema.
	Schema string
}

// GroupChatsOf implements GroupFinder.
func (m Membership) GroupChatsOf(ctx context.Context, corp, customerID string) ([]string, error) {
	schema := m.Schema
	if schema == "" {
		schema = "projections"
	}
	rows, err := m.DB.Query(ctx, fmt.Sprintf(`SELECT DISTINCT chat_id FROM %s.group_membership_history
		WHERE corp_id = $1 AND member_type = $2 AND member_id = $3`, pgx.Identifier{schema}.Sanitize()),
		corp, events.MemberCustomer, customerID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// LogReader is the part of an event log LogScan reads.
type LogReader interface {
	ReadAll(ctx context.Context, from events.Position, limit int) ([]events.Recorded, error)
}

// LogScan finds group chats by reading the whole log. It needs no
// projection and is always current, but costs a full scan per call: for
// tests, the in-memory log and small deployments.
type LogScan struct {
	Log LogReader
}

// GroupChatsOf implements GroupFinder.
func (s LogScan) GroupChatsOf(ctx context.Context, corp, customerID string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	from := events.Start
	for {
		page, err := s.Log.ReadAll(ctx, from, 1000)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return out, nil
		}
		for _, r := range page {
			from = r.Position
			if r.Type != "groupchat.member_joined" || r.CorpID != corp {
				continue
			}
			p, err := decode(r)
			if err != nil {
				return nil, err
			}
			j, ok := p.(*events.GroupChatMemberJoined)
			if ok && j.MemberType == events.MemberCustomer && j.MemberID == customerID && !seen[j.ChatID] {
				seen[j.ChatID] = true
				out = append(out, j.ChatID)
			}
		}
	}
}
