package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/domain/tags"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections"
)

// Projected is the View of custody's projections (schema
// projections.LiveSchema) plus the corp's tag stream read from the log
// (the catalog has no projection).
type Projected struct {
	Pool *pgxpool.Pool
	Log  eventlog.EventLog
}

var _ View = Projected{}

const schema = projections.LiveSchema

// Staff implements View.
func (p Projected) Staff(ctx context.Context, corpID string) (map[string]bool, error) {
	rows, err := p.Pool.Query(ctx, `SELECT staff_id FROM `+schema+`.staff WHERE corp_id = $1 AND status IN ('active', 'departed')`, corpID)
	if err != nil {
		return nil, fmt.Errorf("reconcile: read staff: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reconcile: read staff: %w", err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// Relations implements View.
func (p Projected) Relations(ctx context.Context, corpID string, customerIDs []string) ([]Relation, error) {
	q := `SELECT customer_id, staff_id, status IN ('active', 'unassigned'), ended_at, remark, description, phones, tags
		FROM ` + schema + `.relations WHERE corp_id = $1`
	args := []any{corpID}
	if customerIDs != nil {
		q += ` AND customer_id = ANY($2)`
		args = append(args, customerIDs)
	}
	rows, err := p.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reconcile: read relations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Relation, error) {
		var r Relation
		var ended *time.Time
		err := row.Scan(&r.CustomerID, &r.StaffID, &r.Active, &ended, &r.Remark, &r.Description, &r.Phones, &r.Tags)
		if ended != nil {
			r.EndedAt = *ended
		}
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: read relations: %w", err)
	}
	return out, nil
}

// PendingHandovers implements View.
func (p Projected) PendingHandovers(ctx context.Context, corpID string) ([]PendingHandover, error) {
	rows, err := p.Pool.Query(ctx, `SELECT customer_id, from_staff_id, to_staff_id FROM `+schema+`.handovers
		WHERE corp_id = $1 AND status = 'pending'`, corpID)
	if err != nil {
		return nil, fmt.Errorf("reconcile: read pending handovers: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PendingHandover])
	if err != nil {
		return nil, fmt.Errorf("reconcile: read pending handovers: %w", err)
	}
	return out, nil
}

// Groups implements View.
func (p Projected) Groups(ctx context.Context, corpID string, chatIDs []string) ([]Group, error) {
	filter, args := "", []any{corpID}
	if chatIDs != nil {
		filter, args = ` AND chat_id = ANY($2)`, append(args, chatIDs)
	}
	rows, err := p.Pool.Query(ctx, `SELECT chat_id, owner_id, name, notice, status = 'dismissed'
		FROM `+schema+`.group_chats WHERE corp_id = $1`+filter, args...)
	if err != nil {
		return nil, fmt.Errorf("reconcile: read groups: %w", err)
	}
	groups, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Group, error) {
		g := Group{Members: map[string]string{}}
		return g, row.Scan(&g.ChatID, &g.Owner, &g.Name, &g.Notice, &g.Dismissed)
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: read groups: %w", err)
	}
	byID := make(map[string]*Group, len(groups))
	for i := range groups {
		byID[groups[i].ChatID] = &groups[i]
	}
	rows, err = p.Pool.Query(ctx, `SELECT chat_id, member_id, member_type FROM `+schema+`.group_members WHERE corp_id = $1`+filter, args...)
	if err != nil {
		return nil, fmt.Errorf("reconcile: read group members: %w", err)
	}
	var chat, member, typ string
	_, err = pgx.ForEachRow(rows, []any{&chat, &member, &typ}, func() error {
		if g := byID[chat]; g != nil {
			g.Members[member] = typ
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: read group members: %w", err)
	}
	return groups, nil
}

// Tags implements View.
func (p Projected) Tags(ctx context.Context, corpID string) ([]Tag, error) {
	return catalogTags(ctx, p.Log, corpID)
}

func catalogTags(ctx context.Context, log eventlog.EventLog, corpID string) ([]Tag, error) {
	recs, err := log.ReadStream(ctx, events.CorpTagsStream(corpID), 0)
	if err != nil && !errors.Is(err, eventlog.ErrStreamNotFound) {
		return nil, fmt.Errorf("reconcile: read tags: %w", err)
	}
	cat, err := tags.Rehydrate(recs)
	if err != nil {
		return nil, fmt.Errorf("reconcile: read tags: %w", err)
	}
	var out []Tag
	for _, t := range cat.Live() {
		out = append(out, Tag{ID: t.ID, Kind: t.Kind, GroupID: t.GroupID, Name: t.Name})
	}
	return out, nil
}
