package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotFound is returned by the single-row queries when nothing matches.
var ErrNotFound = errors.New("projections: not found")

// Reader answers the query API's questions from the live tables. Every
// query is scoped to one corp. Safe for concurrent use; it reads the tables
// as of its statement's snapshot (a query made of several statements may see
// a batch land in between).
type Reader struct {
	db Querier
}

// NewReader returns a Reader over db (a *pgxpool.Pool in production; a
// pgx.Tx for a consistent multi-query read).
func NewReader(db Querier) *Reader { return &Reader{db: db} }

// StaffMember is a row of projections.staff.
type StaffMember struct {
	CorpID              string     `db:"corp_id" json:"corp_id"`
	StaffID             string     `db:"staff_id" json:"staff_id"`
	Name                string     `db:"name" json:"name"`
	Status              string     `db:"status" json:"status"`
	Capacity            int        `db:"capacity" json:"capacity"`
	JoinedAt            *time.Time `db:"joined_at" json:"joined_at,omitempty"`
	DepartedAt          *time.Time `db:"departed_at" json:"departed_at,omitempty"`
	ActiveCustomers     int        `db:"active_customers" json:"active_customers"`
	UnassignedCustomers int        `db:"unassigned_customers" json:"unassigned_customers"`
	SlotsUsed           int        `db:"slots_used" json:"slots_used"`
	// Erased: the member's personal data was erased (staff.erased); Name
	// is blank.
	Erased    bool       `db:"erased" json:"erased"`
	ErasedAt  *time.Time `db:"erased_at" json:"erased_at,omitempty"`
	UpdatedAt time.Time  `db:"updated_at" json:"updated_at"`
}

// Customer is a row of projections.customers.
type Customer struct {
	CorpID        string     `db:"corp_id" json:"corp_id"`
	CustomerID    string     `db:"customer_id" json:"customer_id"`
	Name          string     `db:"name" json:"name"`
	Followers     []string   `db:"followers" json:"followers"`
	FollowerCount int        `db:"follower_count" json:"follower_count"`
	FirstAddedAt  *time.Time `db:"first_added_at" json:"first_added_at,omitempty"`
	LastAddedAt   *time.Time `db:"last_added_at" json:"last_added_at,omitempty"`
	Erased        bool       `db:"erased" json:"erased"`
	ErasedAt      *time.Time `db:"erased_at" json:"erased_at,omitempty"`
	UpdatedAt     time.Time  `db:"updated_at" json:"updated_at"`
}

// Relation is a row of projections.relations.
type Relation struct {
	CorpID           string     `db:"corp_id" json:"corp_id"`
	CustomerID       string     `db:"customer_id" json:"customer_id"`
	StaffID          string     `db:"staff_id" json:"staff_id"`
	Status           string     `db:"status" json:"status"`
	StartedAt        time.Time  `db:"started_at" json:"started_at"`
	EndedAt          *time.Time `db:"ended_at" json:"ended_at,omitempty"`
	EndReason        string     `db:"end_reason" json:"end_reason,omitempty"`
	StartedBy        string     `db:"started_by" json:"started_by"`
	StartHandoverID  string     `db:"start_handover_id" json:"start_handover_id,omitempty"`
	EndHandoverID    string     `db:"end_handover_id" json:"end_handover_id,omitempty"`
	Initiator        string     `db:"initiator" json:"initiator"`
	AddWay           int        `db:"add_way" json:"add_way"`
	Channel          string     `db:"channel" json:"channel,omitempty"`
	CustomerName     string     `db:"customer_name" json:"customer_name,omitempty"`
	Remark           string     `db:"remark" json:"remark,omitempty"`
	Description      string     `db:"description" json:"description,omitempty"`
	Phones           []string   `db:"phones" json:"phones"`
	Tags             []string   `db:"tags" json:"tags"`
	MomentsOptedOut  bool       `db:"moments_opted_out" json:"moments_opted_out"`
	MomentsChangedAt *time.Time `db:"moments_changed_at" json:"moments_changed_at,omitempty"`
	Intervals        int        `db:"intervals" json:"intervals"`
	UpdatedAt        time.Time  `db:"updated_at" json:"updated_at"`
}

// OwnershipInterval is a row of projections.ownership_intervals.
type OwnershipInterval struct {
	CorpID          string     `db:"corp_id" json:"corp_id"`
	CustomerID      string     `db:"customer_id" json:"customer_id"`
	StaffID         string     `db:"staff_id" json:"staff_id"`
	StartedAt       time.Time  `db:"started_at" json:"started_at"`
	EndedAt         *time.Time `db:"ended_at" json:"ended_at,omitempty"`
	StartedBy       string     `db:"started_by" json:"started_by"`
	StartHandoverID string     `db:"start_handover_id" json:"start_handover_id,omitempty"`
	EndReason       string     `db:"end_reason" json:"end_reason,omitempty"`
	EndHandoverID   string     `db:"end_handover_id" json:"end_handover_id,omitempty"`
}

// Handover is a row of projections.handovers.
type Handover struct {
	CorpID        string     `db:"corp_id" json:"corp_id"`
	HandoverID    string     `db:"handover_id" json:"handover_id"`
	CustomerID    string     `db:"customer_id" json:"customer_id"`
	Kind          string     `db:"kind" json:"kind"`
	FromStaffID   string     `db:"from_staff_id" json:"from_staff_id"`
	ToStaffID     string     `db:"to_staff_id" json:"to_staff_id"`
	BatchID       string     `db:"batch_id" json:"batch_id,omitempty"`
	Message       string     `db:"message" json:"message,omitempty"`
	Status        string     `db:"status" json:"status"`
	RequestedAt   time.Time  `db:"requested_at" json:"requested_at"`
	Deadline      time.Time  `db:"deadline" json:"deadline"`
	SettledAt     *time.Time `db:"settled_at" json:"settled_at,omitempty"`
	FailureReason string     `db:"failure_reason" json:"failure_reason,omitempty"`
}

// UnassignedRelation is a row of projections.unassigned_relations.
type UnassignedRelation struct {
	CorpID     string    `db:"corp_id" json:"corp_id"`
	CustomerID string    `db:"customer_id" json:"customer_id"`
	StaffID    string    `db:"staff_id" json:"staff_id"`
	DepartedAt time.Time `db:"departed_at" json:"departed_at"`
	StartedAt  time.Time `db:"started_at" json:"started_at"`
}

// GroupChat is a row of projections.group_chats.
type GroupChat struct {
	CorpID          string     `db:"corp_id" json:"corp_id"`
	ChatID          string     `db:"chat_id" json:"chat_id"`
	OwnerID         string     `db:"owner_id" json:"owner_id"`
	Name            string     `db:"name" json:"name"`
	Notice          string     `db:"notice" json:"notice,omitempty"`
	Status          string     `db:"status" json:"status"`
	CreatedAt       time.Time  `db:"created_at" json:"created_at"`
	DismissedAt     *time.Time `db:"dismissed_at" json:"dismissed_at,omitempty"`
	StaffMembers    int        `db:"staff_members" json:"staff_members"`
	CustomerMembers int        `db:"customer_members" json:"customer_members"`
	OwnerChanges    int        `db:"owner_changes" json:"owner_changes"`
	UpdatedAt       time.Time  `db:"updated_at" json:"updated_at"`
}

// GroupMember is a row of projections.group_members.
type GroupMember struct {
	CorpID     string    `db:"corp_id" json:"corp_id"`
	ChatID     string    `db:"chat_id" json:"chat_id"`
	MemberID   string    `db:"member_id" json:"member_id"`
	MemberType string    `db:"member_type" json:"member_type"`
	JoinedAt   time.Time `db:"joined_at" json:"joined_at"`
	JoinScene  string    `db:"join_scene" json:"join_scene"`
	InviterID  string    `db:"inviter_id" json:"inviter_id,omitempty"`
	Nickname   string    `db:"nickname" json:"nickname,omitempty"`
}

// MomentsOptOut is a row of projections.moments_opt_outs.
type MomentsOptOut struct {
	CorpID     string    `db:"corp_id" json:"corp_id"`
	CustomerID string    `db:"customer_id" json:"customer_id"`
	StaffID    string    `db:"staff_id" json:"staff_id"`
	OptedOut   bool      `db:"opted_out" json:"opted_out"`
	ChangedAt  time.Time `db:"changed_at" json:"changed_at"`
	Source     string    `db:"source" json:"source,omitempty"`
}

// Consent is a row of projections.consents.
type Consent struct {
	CorpID     string    `db:"corp_id" json:"corp_id"`
	CustomerID string    `db:"customer_id" json:"customer_id"`
	Purpose    string    `db:"purpose" json:"purpose"`
	State      string    `db:"state" json:"state"`
	ChangedAt  time.Time `db:"changed_at" json:"changed_at"`
	RecordedAt time.Time `db:"recorded_at" json:"recorded_at"`
}

// CustomerView is everything the read models know about one customer.
type CustomerView struct {
	Customer
	// Relations with every staff member, current and ended, by staff id.
	Relations []Relation `json:"relations"`
	// Ownership is the customer's ownership line, oldest interval first.
	Ownership []OwnershipInterval `json:"ownership"`
	// OptOuts are the customer's moments choices per staff member.
	OptOuts []MomentsOptOut `json:"moments_opt_outs"`
	// Groups are the customer's current group memberships.
	Groups []GroupMember `json:"groups"`
	// Handovers of the customer's relations, newest first.
	Handovers []Handover `json:"handovers"`
	Consents  []Consent  `json:"consents"`
}

const (
	staffCols    = `corp_id, staff_id, name, status, capacity, joined_at, departed_at, active_customers, unassigned_customers, slots_used, erased, erased_at, updated_at`
	customerCols = `corp_id, customer_id, name, followers, follower_count, first_added_at, last_added_at, erased, erased_at, updated_at`
	relationCols = `corp_id, customer_id, staff_id, status, started_at, ended_at, coalesce(end_reason, '') AS end_reason, started_by,
		coalesce(start_handover_id, '') AS start_handover_id, coalesce(end_handover_id, '') AS end_handover_id, initiator, add_way,
		channel, customer_name, remark, description, phones, tags, moments_opted_out, moments_changed_at, intervals, updated_at`
	intervalCols = `corp_id, customer_id, staff_id, started_at, ended_at, started_by, coalesce(start_handover_id, '') AS start_handover_id,
		coalesce(end_reason, '') AS end_reason, coalesce(end_handover_id, '') AS end_handover_id`
	handoverCols = `corp_id, handover_id, customer_id, kind, from_staff_id, to_staff_id, batch_id, message, status, requested_at, deadline,
		settled_at, coalesce(failure_reason, '') AS failure_reason`
	unassignedCols = `corp_id, customer_id, staff_id, departed_at, started_at`
	groupCols      = `corp_id, chat_id, owner_id, name, notice, status, created_at, dismissed_at, staff_members, customer_members, owner_changes, updated_at`
	memberCols     = `corp_id, chat_id, member_id, member_type, joined_at, join_scene, inviter_id, nickname`
	optOutCols     = `corp_id, customer_id, staff_id, opted_out, changed_at, source`
	consentCols    = `corp_id, customer_id, purpose, state, changed_at, recorded_at`
)

func collect[T any](ctx context.Context, db Querier, sql string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[T])
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}

func one[T any](ctx context.Context, db Querier, sql string, args ...any) (T, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[T])
	if errors.Is(err, pgx.ErrNoRows) {
		return v, ErrNotFound
	}
	return v, err
}

// Customer returns the customer with their relations, ownership line,
// moments opt-outs, current groups, handovers and consents, or ErrNotFound.
func (r *Reader) Customer(ctx context.Context, corp, customerID string) (CustomerView, error) {
	var v CustomerView
	var err error
	if v.Customer, err = one[Customer](ctx, r.db, `SELECT `+customerCols+` FROM projections.customers WHERE corp_id = $1 AND customer_id = $2`, corp, customerID); err != nil {
		return v, fmt.Errorf("projections: customer: %w", err)
	}
	if v.Relations, err = collect[Relation](ctx, r.db, `SELECT `+relationCols+` FROM projections.relations
		WHERE corp_id = $1 AND customer_id = $2 ORDER BY staff_id`, corp, customerID); err != nil {
		return v, fmt.Errorf("projections: customer relations: %w", err)
	}
	if v.Ownership, err = collect[OwnershipInterval](ctx, r.db, `SELECT `+intervalCols+` FROM projections.ownership_intervals
		WHERE corp_id = $1 AND customer_id = $2 ORDER BY started_at, start_commit, start_prepare`, corp, customerID); err != nil {
		return v, fmt.Errorf("projections: customer ownership: %w", err)
	}
	if v.OptOuts, err = collect[MomentsOptOut](ctx, r.db, `SELECT `+optOutCols+` FROM projections.moments_opt_outs
		WHERE corp_id = $1 AND customer_id = $2 ORDER BY staff_id`, corp, customerID); err != nil {
		return v, fmt.Errorf("projections: customer opt-outs: %w", err)
	}
	if v.Groups, err = collect[GroupMember](ctx, r.db, `SELECT `+memberCols+` FROM projections.group_members
		WHERE corp_id = $1 AND member_type = 'customer' AND member_id = $2 ORDER BY chat_id`, corp, customerID); err != nil {
		return v, fmt.Errorf("projections: customer groups: %w", err)
	}
	if v.Handovers, err = collect[Handover](ctx, r.db, `SELECT `+handoverCols+` FROM projections.handovers
		WHERE corp_id = $1 AND customer_id = $2 ORDER BY requested_at DESC, handover_id DESC`, corp, customerID); err != nil {
		return v, fmt.Errorf("projections: customer handovers: %w", err)
	}
	if v.Consents, err = collect[Consent](ctx, r.db, `SELECT `+consentCols+` FROM projections.consents
		WHERE corp_id = $1 AND customer_id = $2 ORDER BY purpose`, corp, customerID); err != nil {
		return v, fmt.Errorf("projections: customer consents: %w", err)
	}
	return v, nil
}

// StaffMember returns one staff member, or ErrNotFound.
func (r *Reader) StaffMember(ctx context.Context, corp, staffID string) (StaffMember, error) {
	s, err := one[StaffMember](ctx, r.db, `SELECT `+staffCols+` FROM projections.staff WHERE corp_id = $1 AND staff_id = $2`, corp, staffID)
	if err != nil {
		return s, fmt.Errorf("projections: staff member: %w", err)
	}
	return s, nil
}

// Staff lists staff members by id; status "" lists every status.
func (r *Reader) Staff(ctx context.Context, corp, status string, page Page) (Paged[StaffMember], error) {
	after, limit, err := page.keys(1)
	if err != nil {
		return Paged[StaffMember]{}, err
	}
	items, err := collect[StaffMember](ctx, r.db, `SELECT `+staffCols+` FROM projections.staff
		WHERE corp_id = $1 AND ($2 = '' OR status = $2) AND staff_id > $3 ORDER BY staff_id LIMIT $4`,
		corp, status, after[0], limit+1)
	if err != nil {
		return Paged[StaffMember]{}, fmt.Errorf("projections: staff: %w", err)
	}
	return paginate(items, limit, func(s StaffMember) []string { return []string{s.StaffID} }), nil
}

// StaffCustomers lists a staff member's relations by customer id. With no
// statuses it lists the current ones (active and unassigned).
func (r *Reader) StaffCustomers(ctx context.Context, corp, staffID string, statuses []string, page Page) (Paged[Relation], error) {
	after, limit, err := page.keys(1)
	if err != nil {
		return Paged[Relation]{}, err
	}
	if len(statuses) == 0 {
		statuses = []string{"active", "unassigned"}
	}
	items, err := collect[Relation](ctx, r.db, `SELECT `+relationCols+` FROM projections.relations
		WHERE corp_id = $1 AND staff_id = $2 AND status = ANY($3) AND customer_id > $4 ORDER BY customer_id LIMIT $5`,
		corp, staffID, statuses, after[0], limit+1)
	if err != nil {
		return Paged[Relation]{}, fmt.Errorf("projections: staff customers: %w", err)
	}
	return paginate(items, limit, func(x Relation) []string { return []string{x.CustomerID} }), nil
}

// Unassigned lists relations of departed staff waiting for a resigned
// handover, by staff then customer; staffID "" lists every departed member's.
func (r *Reader) Unassigned(ctx context.Context, corp, staffID string, page Page) (Paged[UnassignedRelation], error) {
	after, limit, err := page.keys(2)
	if err != nil {
		return Paged[UnassignedRelation]{}, err
	}
	items, err := collect[UnassignedRelation](ctx, r.db, `SELECT `+unassignedCols+` FROM projections.unassigned_relations
		WHERE corp_id = $1 AND ($2 = '' OR staff_id = $2) AND (staff_id, customer_id) > ($3, $4)
		ORDER BY staff_id, customer_id LIMIT $5`, corp, staffID, after[0], after[1], limit+1)
	if err != nil {
		return Paged[UnassignedRelation]{}, fmt.Errorf("projections: unassigned: %w", err)
	}
	return paginate(items, limit, func(x UnassignedRelation) []string { return []string{x.StaffID, x.CustomerID} }), nil
}

// Handovers lists handovers newest request first; status "" lists every
// status.
func (r *Reader) Handovers(ctx context.Context, corp, status string, page Page) (Paged[Handover], error) {
	after, limit, err := page.keys(2)
	if err != nil {
		return Paged[Handover]{}, err
	}
	// Without a cursor start after the newest possible key.
	at, id := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ""
	if after[0] != "" {
		if at, err = time.Parse(time.RFC3339Nano, after[0]); err != nil {
			return Paged[Handover]{}, fmt.Errorf("%w: %v", ErrBadCursor, err)
		}
		id = after[1]
	}
	items, err := collect[Handover](ctx, r.db, `SELECT `+handoverCols+` FROM projections.handovers
		WHERE corp_id = $1 AND ($2 = '' OR status = $2)
		AND (requested_at < $3 OR (requested_at = $3 AND ($4 = '' OR handover_id < $4)))
		ORDER BY requested_at DESC, handover_id DESC LIMIT $5`, corp, status, at, id, limit+1)
	if err != nil {
		return Paged[Handover]{}, fmt.Errorf("projections: handovers: %w", err)
	}
	return paginate(items, limit, func(x Handover) []string {
		return []string{x.RequestedAt.UTC().Format(time.RFC3339Nano), x.HandoverID}
	}), nil
}

// DueHandovers returns up to limit pending handovers whose deadline is at or
// before asOf, earliest deadline first: the ones the settle job completes.
// corp "" returns every corp's (the job runs for all tenants).
func (r *Reader) DueHandovers(ctx context.Context, corp string, asOf time.Time, limit int) ([]Handover, error) {
	if limit <= 0 {
		limit = 100
	}
	hs, err := collect[Handover](ctx, r.db, `SELECT `+handoverCols+` FROM projections.handovers
		WHERE status = 'pending' AND deadline <= $2 AND ($1 = '' OR corp_id = $1)
		ORDER BY deadline, corp_id, handover_id LIMIT $3`, corp, asOf, limit)
	if err != nil {
		return nil, fmt.Errorf("projections: due handovers: %w", err)
	}
	return hs, nil
}

// OwnersAsOf returns the ownership intervals covering at: the staff members
// who served the customer at that instant (several when the customer
// followed several staff members), by staff id.
func (r *Reader) OwnersAsOf(ctx context.Context, corp, customerID string, at time.Time) ([]OwnershipInterval, error) {
	is, err := collect[OwnershipInterval](ctx, r.db, `SELECT `+intervalCols+` FROM projections.ownership_intervals
		WHERE corp_id = $1 AND customer_id = $2 AND started_at <= $3 AND (ended_at IS NULL OR ended_at > $3)
		ORDER BY staff_id, started_at`, corp, customerID, at)
	if err != nil {
		return nil, fmt.Errorf("projections: owners as of: %w", err)
	}
	return is, nil
}

// GroupChatView is a group with its current members.
type GroupChatView struct {
	GroupChat
	Members []GroupMember `json:"members"`
}

// GroupChats lists groups by chat id; status "" lists every status.
func (r *Reader) GroupChats(ctx context.Context, corp, status string, page Page) (Paged[GroupChat], error) {
	after, limit, err := page.keys(1)
	if err != nil {
		return Paged[GroupChat]{}, err
	}
	items, err := collect[GroupChat](ctx, r.db, `SELECT `+groupCols+` FROM projections.group_chats
		WHERE corp_id = $1 AND ($2 = '' OR status = $2) AND chat_id > $3 ORDER BY chat_id LIMIT $4`,
		corp, status, after[0], limit+1)
	if err != nil {
		return Paged[GroupChat]{}, fmt.Errorf("projections: group chats: %w", err)
	}
	return paginate(items, limit, func(x GroupChat) []string { return []string{x.ChatID} }), nil
}

// GroupChat returns a group with its current members (staff first, then
// customers, by id), or ErrNotFound.
func (r *Reader) GroupChat(ctx context.Context, corp, chatID string) (GroupChatView, error) {
	var v GroupChatView
	var err error
	if v.GroupChat, err = one[GroupChat](ctx, r.db, `SELECT `+groupCols+` FROM projections.group_chats WHERE corp_id = $1 AND chat_id = $2`, corp, chatID); err != nil {
		return v, fmt.Errorf("projections: group chat: %w", err)
	}
	if v.Members, err = collect[GroupMember](ctx, r.db, `SELECT `+memberCols+` FROM projections.group_members
		WHERE corp_id = $1 AND chat_id = $2 ORDER BY member_type DESC, member_id`, corp, chatID); err != nil {
		return v, fmt.Errorf("projections: group members: %w", err)
	}
	return v, nil
}

// Overview is the headline of a sales-ops dashboard for one corp.
type Overview struct {
	AsOf                time.Time `json:"as_of"`
	ActiveStaff         int       `json:"active_staff"`
	DepartedStaff       int       `json:"departed_staff"`
	Customers           int       `json:"customers"`
	ErasedCustomers     int       `json:"erased_customers"`
	ActiveRelations     int       `json:"active_relations"`
	UnassignedRelations int       `json:"unassigned_relations"`
	ActiveGroupChats    int       `json:"active_group_chats"`
	// MomentsAudience counts active relations not opted out of moments.
	MomentsAudience int `json:"moments_audience"`
	// HandoversByStatus counts every handover by status.
	HandoversByStatus map[string]int `json:"handovers_by_status"`
	// PendingOverdue counts pending handovers past their deadline at AsOf.
	PendingOverdue int `json:"pending_overdue"`
	// ChurnLast7Days is per staff member over the 7 days ending with AsOf's
	// day (UTC days, or the activity projection's Location), most churn first.
	ChurnLast7Days []StaffChurn `json:"churn_last_7_days"`
	// UnassignedByDepartedStaff counts waiting relations per departed member,
	// most first.
	UnassignedByDepartedStaff []UnassignedCount `json:"unassigned_by_departed_staff"`
}

// StaffChurn is one staff member's adds and churn over a period.
type StaffChurn struct {
	StaffID           string `db:"staff_id" json:"staff_id"`
	Added             int    `db:"added" json:"added"`
	DeletedByCustomer int    `db:"deleted_by_customer" json:"deleted_by_customer"`
	DeletedByStaff    int    `db:"deleted_by_staff" json:"deleted_by_staff"`
	HandedOverIn      int    `db:"handed_over_in" json:"handed_over_in"`
	HandedOverOut     int    `db:"handed_over_out" json:"handed_over_out"`
}

// UnassignedCount is the number of unassigned relations of one departed
// staff member.
type UnassignedCount struct {
	StaffID    string    `db:"staff_id" json:"staff_id"`
	DepartedAt time.Time `db:"departed_at" json:"departed_at"`
	Count      int       `db:"count" json:"count"`
}

// Overview computes the dashboard headline as of asOf (which only bounds the
// churn window and the overdue count: the counts are the current ones).
func (r *Reader) Overview(ctx context.Context, corp string, asOf time.Time) (Overview, error) {
	o := Overview{AsOf: asOf, HandoversByStatus: map[string]int{}}
	err := r.db.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM projections.staff WHERE corp_id = $1 AND status = 'active'),
		(SELECT count(*) FROM projections.staff WHERE corp_id = $1 AND status = 'departed'),
		(SELECT count(*) FROM projections.customers WHERE corp_id = $1),
		(SELECT count(*) FROM projections.customers WHERE corp_id = $1 AND erased),
		(SELECT count(*) FROM projections.relations WHERE corp_id = $1 AND status = 'active'),
		(SELECT count(*) FROM projections.relations WHERE corp_id = $1 AND status = 'unassigned'),
		(SELECT count(*) FROM projections.group_chats WHERE corp_id = $1 AND status = 'active'),
		(SELECT count(*) FROM projections.moments_audience WHERE corp_id = $1 AND NOT opted_out),
		(SELECT count(*) FROM projections.handovers WHERE corp_id = $1 AND status = 'pending' AND deadline <= $2)`,
		corp, asOf).Scan(&o.ActiveStaff, &o.DepartedStaff, &o.Customers, &o.ErasedCustomers, &o.ActiveRelations,
		&o.UnassignedRelations, &o.ActiveGroupChats, &o.MomentsAudience, &o.PendingOverdue)
	if err != nil {
		return o, fmt.Errorf("projections: overview: %w", err)
	}
	rows, err := r.db.Query(ctx, `SELECT status, count(*) FROM projections.handovers WHERE corp_id = $1 GROUP BY status`, corp)
	if err != nil {
		return o, fmt.Errorf("projections: overview handovers: %w", err)
	}
	var status string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&status, &n}, func() error { o.HandoversByStatus[status] = n; return nil }); err != nil {
		return o, fmt.Errorf("projections: overview handovers: %w", err)
	}
	y, m, d := asOf.UTC().Date()
	last := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if o.ChurnLast7Days, err = collect[StaffChurn](ctx, r.db, `SELECT staff_id, sum(added)::bigint AS added,
			sum(deleted_by_customer)::bigint AS deleted_by_customer, sum(deleted_by_staff)::bigint AS deleted_by_staff,
			sum(handed_over_in)::bigint AS handed_over_in, sum(handed_over_out)::bigint AS handed_over_out
		FROM projections.daily_staff_activity
		WHERE corp_id = $1 AND day BETWEEN $2::date - 6 AND $2::date
		GROUP BY staff_id
		ORDER BY sum(deleted_by_customer) + sum(deleted_by_staff) DESC, staff_id`, corp, last); err != nil {
		return o, fmt.Errorf("projections: overview churn: %w", err)
	}
	if o.UnassignedByDepartedStaff, err = collect[UnassignedCount](ctx, r.db, `SELECT staff_id, min(departed_at) AS departed_at, count(*)::int AS count
		FROM projections.unassigned_relations WHERE corp_id = $1
		GROUP BY staff_id ORDER BY count(*) DESC, staff_id`, corp); err != nil {
		return o, fmt.Errorf("projections: overview unassigned: %w", err)
	}
	return o, nil
}
