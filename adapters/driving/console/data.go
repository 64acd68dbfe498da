package console

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// errNotFound: the row a page is about does not exist (404).
var errNotFound = errors.New("console: not found")

// pageSize is how many rows a list page shows.
const pageSize = 100

// The page queries: this package's own SQL over the projection tables.
// Every one is scoped by corp and served by an index of its table; the
// EXPLAIN test runs each over a corp of 100,000 customers.
const (
	qStaff = `SELECT staff_id, name, status, erased, capacity, active_customers, unassigned_customers, slots_used, joined_at, departed_at
		FROM projections.staff WHERE corp_id = $1 ORDER BY staff_id LIMIT 5000`
	qCustomerCount = `SELECT count(*) FROM projections.customers WHERE corp_id = $1`
	qGroupCount    = `SELECT count(*) FROM projections.group_chats WHERE corp_id = $1 AND status = 'active'`
	qDaily         = `SELECT day, sum(added)::bigint, sum(deleted_by_customer)::bigint, sum(deleted_by_staff)::bigint
		FROM projections.daily_staff_activity WHERE corp_id = $1 AND day > $2::date - 30 AND day <= $2::date
		GROUP BY day ORDER BY day`
	qStaffPeriod = `SELECT staff_id, sum(added)::bigint, sum(deleted_by_customer)::bigint, sum(deleted_by_staff)::bigint
		FROM projections.daily_staff_activity WHERE corp_id = $1 AND day > $2::date - 30 AND day <= $2::date
		GROUP BY staff_id`
	qHandoverStatus = `SELECT status, count(*) FROM projections.handovers WHERE corp_id = $1 GROUP BY status`
	qStaffDaily     = `SELECT day, added::bigint, deleted_by_customer::bigint, deleted_by_staff::bigint
		FROM projections.daily_staff_activity WHERE corp_id = $1 AND staff_id = $2 AND day > $3::date - 30 AND day <= $3::date
		ORDER BY day`
	qStaffRelations = `SELECT r.customer_id, r.status, r.started_at, r.channel,
			CASE WHEN r.customer_name <> '' THEN r.customer_name ELSE coalesce(c.name, '') END, r.remark, coalesce(c.erased, false)
		FROM projections.relations r LEFT JOIN projections.customers c ON c.corp_id = r.corp_id AND c.customer_id = r.customer_id
		WHERE r.corp_id = $1 AND r.staff_id = $2 AND r.status = $3 AND r.customer_id > $4
		ORDER BY r.customer_id LIMIT $5`
	qPendingTo = `SELECT handover_id, customer_id, kind, from_staff_id, to_staff_id, status, requested_at, deadline, settled_at, coalesce(failure_reason, '')
		FROM projections.handovers WHERE corp_id = $1 AND to_staff_id = $2 AND status = 'pending'
		ORDER BY requested_at DESC LIMIT 200`
	qPendingFrom = `SELECT handover_id, customer_id, kind, from_staff_id, to_staff_id, status, requested_at, deadline, settled_at, coalesce(failure_reason, '')
		FROM projections.handovers WHERE corp_id = $1 AND from_staff_id = $2 AND status = 'pending'
		ORDER BY requested_at DESC LIMIT 1000`
	qCustomer = `SELECT customer_id, name, erased, erased_at, first_added_at
		FROM projections.customers WHERE corp_id = $1 AND customer_id = $2`
	qCustomerRelations = `SELECT staff_id, status, started_at, ended_at, coalesce(end_reason, ''), started_by, channel,
			customer_name, remark, description, phones, tags, moments_opted_out
		FROM projections.relations WHERE corp_id = $1 AND customer_id = $2 ORDER BY staff_id`
	qOwnership = `SELECT staff_id, started_at, ended_at, started_by, coalesce(end_reason, '')
		FROM projections.ownership_intervals WHERE corp_id = $1 AND customer_id = $2
		ORDER BY started_at, start_commit, start_prepare`
	qCustomerHandovers = `SELECT handover_id, customer_id, kind, from_staff_id, to_staff_id, status, requested_at, deadline, settled_at, coalesce(failure_reason, '')
		FROM projections.handovers WHERE corp_id = $1 AND customer_id = $2 ORDER BY requested_at DESC, handover_id DESC`
	qConsents       = `SELECT purpose, state, changed_at FROM projections.consents WHERE corp_id = $1 AND customer_id = $2 ORDER BY purpose`
	qOptOuts        = `SELECT staff_id, opted_out, changed_at FROM projections.moments_opt_outs WHERE corp_id = $1 AND customer_id = $2 ORDER BY staff_id`
	qCustomerGroups = `SELECT m.chat_id, g.name, g.owner_id, g.status, m.joined_at
		FROM projections.group_members m JOIN projections.group_chats g ON g.corp_id = m.corp_id AND g.chat_id = m.chat_id
		WHERE m.corp_id = $1 AND m.member_type = 'customer' AND m.member_id = $2 ORDER BY m.chat_id`
	qHandovers = `SELECT handover_id, customer_id, kind, from_staff_id, to_staff_id, status, requested_at, deadline, settled_at, coalesce(failure_reason, '')
		FROM projections.handovers WHERE corp_id = $1 AND status = $2 AND deadline <= $3 AND (deadline < $3 OR handover_id < $4)
		ORDER BY deadline DESC, handover_id DESC LIMIT $5`
	qGroups = `SELECT chat_id, name, owner_id, status, staff_members, customer_members, created_at
		FROM projections.group_chats WHERE corp_id = $1 AND chat_id > $2 ORDER BY chat_id LIMIT $3`
	qOrphanGroups = `SELECT chat_id, name, owner_id, status, staff_members, customer_members, created_at
		FROM projections.group_chats WHERE corp_id = $1 AND owner_id = ANY($2) AND status = 'active' ORDER BY chat_id LIMIT 500`
	// qChannels reads every relation of the corp once: a corp-wide
	// aggregate (see the EXPLAIN test).
	qChannels = `SELECT channel, count(*),
			count(*) FILTER (WHERE started_at > $2::timestamptz - interval '30 days'),
			count(*) FILTER (WHERE started_at <= $2::timestamptz - interval '30 days'),
			count(*) FILTER (WHERE started_at <= $2::timestamptz - interval '30 days' AND ended_at IS NOT NULL
				AND ended_at <= started_at + interval '30 days' AND end_reason IN ('deleted_by_customer', 'deleted_by_staff'))
		FROM projections.relations WHERE corp_id = $1 AND started_by = 'added'
		GROUP BY channel ORDER BY count(*) DESC, channel LIMIT 500`
	qCorps         = `SELECT DISTINCT corp_id FROM projections.staff ORDER BY corp_id LIMIT 200`
	qCustomerNames = `SELECT customer_id, name, erased FROM projections.customers WHERE corp_id = $1 AND customer_id = ANY($2)`
)

// store runs the page queries.
type store struct{ db *pgxpool.Pool }

type staffRow struct {
	ID, Name, Status     string
	Erased               bool
	Capacity             int
	Active, Unassigned   int
	SlotsUsed            int
	JoinedAt, DepartedAt *time.Time
}

func (s store) staff(ctx context.Context, corp string) ([]staffRow, error) {
	rows, err := s.db.Query(ctx, qStaff, corp)
	if err != nil {
		return nil, fmt.Errorf("console: staff: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (staffRow, error) {
		var x staffRow
		err := r.Scan(&x.ID, &x.Name, &x.Status, &x.Erased, &x.Capacity, &x.Active, &x.Unassigned, &x.SlotsUsed, &x.JoinedAt, &x.DepartedAt)
		return x, err
	})
}

func (s store) count(ctx context.Context, q string, args ...any) (int, error) {
	var n int
	if err := s.db.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("console: count: %w", err)
	}
	return n, nil
}

type dayRow struct {
	Day                                      time.Time
	Added, DeletedByCustomer, DeletedByStaff int
}

func (s store) daily(ctx context.Context, q string, args ...any) ([]dayRow, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("console: daily activity: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (dayRow, error) {
		var x dayRow
		err := r.Scan(&x.Day, &x.Added, &x.DeletedByCustomer, &x.DeletedByStaff)
		return x, err
	})
}

type periodRow struct {
	StaffID                                  string
	Added, DeletedByCustomer, DeletedByStaff int
}

func (s store) staffPeriod(ctx context.Context, corp string, today time.Time) (map[string]periodRow, error) {
	rows, err := s.db.Query(ctx, qStaffPeriod, corp, today)
	if err != nil {
		return nil, fmt.Errorf("console: staff activity: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (periodRow, error) {
		var x periodRow
		err := r.Scan(&x.StaffID, &x.Added, &x.DeletedByCustomer, &x.DeletedByStaff)
		return x, err
	})
	out := map[string]periodRow{}
	for _, p := range list {
		out[p.StaffID] = p
	}
	return out, err
}

func (s store) handoverStatus(ctx context.Context, corp string) (map[string]int, error) {
	rows, err := s.db.Query(ctx, qHandoverStatus, corp)
	if err != nil {
		return nil, fmt.Errorf("console: handover counts: %w", err)
	}
	out := map[string]int{}
	var st string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&st, &n}, func() error { out[st] = n; return nil })
	return out, err
}

type relationRow struct {
	CustomerID, Status string
	StartedAt          time.Time
	Channel            string
	CustomerName       string
	Remark             string
	Erased             bool
}

func (s store) staffRelations(ctx context.Context, corp, staffID, status, after string) ([]relationRow, error) {
	rows, err := s.db.Query(ctx, qStaffRelations, corp, staffID, status, after, pageSize+1)
	if err != nil {
		return nil, fmt.Errorf("console: staff customers: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (relationRow, error) {
		var x relationRow
		err := r.Scan(&x.CustomerID, &x.Status, &x.StartedAt, &x.Channel, &x.CustomerName, &x.Remark, &x.Erased)
		return x, err
	})
}

type handoverRow struct {
	ID, CustomerID, Kind, From, To, Status string
	RequestedAt, Deadline                  time.Time
	SettledAt                              *time.Time
	FailureReason                          string
}

func (s store) handovers(ctx context.Context, q string, args ...any) ([]handoverRow, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("console: handovers: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (handoverRow, error) {
		var x handoverRow
		err := r.Scan(&x.ID, &x.CustomerID, &x.Kind, &x.From, &x.To, &x.Status, &x.RequestedAt, &x.Deadline, &x.SettledAt, &x.FailureReason)
		return x, err
	})
}

type customerRow struct {
	ID, Name     string
	Erased       bool
	ErasedAt     *time.Time
	FirstAddedAt *time.Time
}

type customerRelation struct {
	StaffID, Status      string
	StartedAt            time.Time
	EndedAt              *time.Time
	EndReason, StartedBy string
	Channel              string
	CustomerName, Remark string
	Description          string
	Phones, Tags         []string
	OptedOut             bool
}

type intervalRow struct {
	StaffID   string
	StartedAt time.Time
	EndedAt   *time.Time
	StartedBy string
	EndReason string
}

type consentRow struct {
	Purpose, State string
	ChangedAt      time.Time
}

type optOutRow struct {
	StaffID   string
	OptedOut  bool
	ChangedAt time.Time
}

type groupRow struct {
	ChatID, Name, OwnerID, Status string
	StaffMembers, CustomerMembers int
	CreatedAt                     time.Time
	// JoinedAt is the customer's joining, on a customer's page.
	JoinedAt time.Time
}

// customerData is everything the customer page reads from the projections.
type customerData struct {
	customerRow
	Relations []customerRelation
	Ownership []intervalRow
	Handovers []handoverRow
	Consents  []consentRow
	OptOuts   []optOutRow
	Groups    []groupRow
}

func (s store) customer(ctx context.Context, corp, id string) (customerData, error) {
	var d customerData
	err := s.db.QueryRow(ctx, qCustomer, corp, id).Scan(&d.ID, &d.Name, &d.Erased, &d.ErasedAt, &d.FirstAddedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, errNotFound
	}
	if err != nil {
		return d, fmt.Errorf("console: customer: %w", err)
	}
	rows, err := s.db.Query(ctx, qCustomerRelations, corp, id)
	if err != nil {
		return d, fmt.Errorf("console: customer relations: %w", err)
	}
	if d.Relations, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (customerRelation, error) {
		var x customerRelation
		err := r.Scan(&x.StaffID, &x.Status, &x.StartedAt, &x.EndedAt, &x.EndReason, &x.StartedBy, &x.Channel,
			&x.CustomerName, &x.Remark, &x.Description, &x.Phones, &x.Tags, &x.OptedOut)
		return x, err
	}); err != nil {
		return d, fmt.Errorf("console: customer relations: %w", err)
	}
	if rows, err = s.db.Query(ctx, qOwnership, corp, id); err != nil {
		return d, fmt.Errorf("console: ownership: %w", err)
	}
	if d.Ownership, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (intervalRow, error) {
		var x intervalRow
		err := r.Scan(&x.StaffID, &x.StartedAt, &x.EndedAt, &x.StartedBy, &x.EndReason)
		return x, err
	}); err != nil {
		return d, fmt.Errorf("console: ownership: %w", err)
	}
	if d.Handovers, err = s.handovers(ctx, qCustomerHandovers, corp, id); err != nil {
		return d, err
	}
	if rows, err = s.db.Query(ctx, qConsents, corp, id); err != nil {
		return d, fmt.Errorf("console: consents: %w", err)
	}
	if d.Consents, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (consentRow, error) {
		var x consentRow
		err := r.Scan(&x.Purpose, &x.State, &x.ChangedAt)
		return x, err
	}); err != nil {
		return d, fmt.Errorf("console: consents: %w", err)
	}
	if rows, err = s.db.Query(ctx, qOptOuts, corp, id); err != nil {
		return d, fmt.Errorf("console: opt-outs: %w", err)
	}
	if d.OptOuts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (optOutRow, error) {
		var x optOutRow
		err := r.Scan(&x.StaffID, &x.OptedOut, &x.ChangedAt)
		return x, err
	}); err != nil {
		return d, fmt.Errorf("console: opt-outs: %w", err)
	}
	if rows, err = s.db.Query(ctx, qCustomerGroups, corp, id); err != nil {
		return d, fmt.Errorf("console: customer groups: %w", err)
	}
	if d.Groups, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (groupRow, error) {
		var x groupRow
		err := r.Scan(&x.ChatID, &x.Name, &x.OwnerID, &x.Status, &x.JoinedAt)
		return x, err
	}); err != nil {
		return d, fmt.Errorf("console: customer groups: %w", err)
	}
	return d, nil
}

func (s store) groups(ctx context.Context, q string, args ...any) ([]groupRow, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("console: groups: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (groupRow, error) {
		var x groupRow
		err := r.Scan(&x.ChatID, &x.Name, &x.OwnerID, &x.Status, &x.StaffMembers, &x.CustomerMembers, &x.CreatedAt)
		return x, err
	})
}

type channelRow struct {
	Channel                         string
	Adds, Adds30, Cohort, Churned30 int
}

func (s store) channels(ctx context.Context, corp string, now time.Time) ([]channelRow, error) {
	rows, err := s.db.Query(ctx, qChannels, corp, now)
	if err != nil {
		return nil, fmt.Errorf("console: channels: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (channelRow, error) {
		var x channelRow
		err := r.Scan(&x.Channel, &x.Adds, &x.Adds30, &x.Cohort, &x.Churned30)
		return x, err
	})
}

func (s store) corps(ctx context.Context) ([]string, error) {
	rows, err := s.db.Query(ctx, qCorps)
	if err != nil {
		return nil, fmt.Errorf("console: corps: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// customerNames returns the names (blank when erased) and erasure of the
// customers ids.
func (s store) customerNames(ctx context.Context, corp string, ids []string) (map[string]customerRow, error) {
	rows, err := s.db.Query(ctx, qCustomerNames, corp, ids)
	if err != nil {
		return nil, fmt.Errorf("console: customer names: %w", err)
	}
	out := map[string]customerRow{}
	var c customerRow
	_, err = pgx.ForEachRow(rows, []any{&c.ID, &c.Name, &c.Erased}, func() error { out[c.ID] = c; return nil })
	return out, err
}

// namedQuery is a page query with sample arguments, for the EXPLAIN test.
type namedQuery struct {
	Name string
	SQL  string
	Args []any
	// CorpWide: the query aggregates every row of the corp in a table (the
	// customer count, the channels page), so on a database holding one
	// corp a sequential scan is the planner's right choice; the test then
	// checks only that an index path exists.
	CorpWide bool
}

// pageQueries lists every query the pages run, with arguments naming a
// member, a departed member, a customer and a time of the data set.
func pageQueries(corp, staffID, departedID, customerID string, now time.Time) []namedQuery {
	day := now.UTC().Truncate(24 * time.Hour)
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	return []namedQuery{
		{Name: "staff", SQL: qStaff, Args: []any{corp}},
		{Name: "customer count", SQL: qCustomerCount, Args: []any{corp}, CorpWide: true},
		{Name: "group count", SQL: qGroupCount, Args: []any{corp}},
		{Name: "daily", SQL: qDaily, Args: []any{corp, day}},
		{Name: "staff period", SQL: qStaffPeriod, Args: []any{corp, day}},
		{Name: "handover status", SQL: qHandoverStatus, Args: []any{corp}},
		{Name: "staff daily", SQL: qStaffDaily, Args: []any{corp, staffID, day}},
		{Name: "staff relations", SQL: qStaffRelations, Args: []any{corp, staffID, "active", "", pageSize + 1}},
		{Name: "departed relations", SQL: qStaffRelations, Args: []any{corp, departedID, "unassigned", "", pageSize + 1}},
		{Name: "pending to", SQL: qPendingTo, Args: []any{corp, staffID}},
		{Name: "pending from", SQL: qPendingFrom, Args: []any{corp, departedID}},
		{Name: "customer", SQL: qCustomer, Args: []any{corp, customerID}},
		{Name: "customer relations", SQL: qCustomerRelations, Args: []any{corp, customerID}},
		{Name: "ownership", SQL: qOwnership, Args: []any{corp, customerID}},
		{Name: "customer handovers", SQL: qCustomerHandovers, Args: []any{corp, customerID}},
		{Name: "consents", SQL: qConsents, Args: []any{corp, customerID}},
		{Name: "opt-outs", SQL: qOptOuts, Args: []any{corp, customerID}},
		{Name: "customer groups", SQL: qCustomerGroups, Args: []any{corp, customerID}},
		{Name: "handovers pending", SQL: qHandovers, Args: []any{corp, "pending", far, "", pageSize + 1}},
		{Name: "handovers completed", SQL: qHandovers, Args: []any{corp, "completed", far, "", pageSize + 1}},
		{Name: "groups", SQL: qGroups, Args: []any{corp, "", pageSize + 1}},
		{Name: "orphan groups", SQL: qOrphanGroups, Args: []any{corp, []string{departedID}}},
		{Name: "channels", SQL: qChannels, Args: []any{corp, now}, CorpWide: true},
		{Name: "customer names", SQL: qCustomerNames, Args: []any{corp, []string{customerID}}},
	}
}
