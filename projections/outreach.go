package projections

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/outreach"
	"github.com/custody/custody/events"
)

// Outreach is the "outreach" projection: who a corp may reach with
// marketing, and what it sent (docs/marketing.md).
//
//   - outreach_audience: one row per (customer, member) pair, with what
//     eligibility needs — the relation (active, channel code, tags, since),
//     the member departed or not, the moments opt-out, and the customer's
//     marketing consent, erasure and last contact copied in from
//     outreach_customers — so the audience query reads one table;
//   - outreach_customers: per customer, the latest marketing consent (the
//     change with the latest changed_at wins), erasure, last contact;
//   - outreach_group_members: the customers in each group now;
//   - outreach_deliveries: every outreach.delivered (the caps' ledger);
//   - outreach_messages: each message's plan and outcome counts.
//
// What each event does to these rows is defined once, as a fold over four
// key spaces (outreach_rebuild.go): the rebuild folds the whole log's
// staged facts from empty, the live driver folds a batch's facts from the
// keys' stored rows and writes back the rows that changed
// (outreach_live.go). The dashboard's counters are derived from the rows
// (outreach_counts.go).
type Outreach struct{}

// Name implements Projection.
func (Outreach) Name() string { return "outreach" }

// Tables implements Projection.
func (Outreach) Tables() []string {
	return []string{"outreach_customers", "outreach_audience", "outreach_group_members", "outreach_deliveries", "outreach_messages",
		"outreach_reach", "outreach_counts", "outreach_zones", "outreach_usage", "outreach_corp_usage"}
}

// Migrations implements Projection.
func (Outreach) Migrations() []string { return migrations("outreach") }

// Apply implements Projection.
func (o Outreach) Apply(w *Writer, e Event) error { return o.applyBatch(w, []Event{e}) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// AudienceQuery asks for the customers a corp may message on a date.
type AudienceQuery struct {
	// Settings are the corp's: its time zone and mass-message caps.
	Settings corp.Settings
	// At is any instant of the day asked about: the cap windows are the
	// day, week and month holding it in the corp's time zone.
	At time.Time
	// Channel is events.ChannelMassMessage (the default: caps apply) or
	// events.ChannelMoments (moments opt-outs refuse, no caps).
	Channel string
	// StaffID keeps one member's audience (the owner filter).
	StaffID string
	// Tags keeps relations carrying every one of them.
	Tags []string
	// State keeps relations started through one channel code (「联系我」 state).
	State string
	// ChatID keeps members of one customer group.
	ChatID string
	// NotContactedSince keeps customers whose last outreach is before it
	// (or who never had one); ContactedSince those contacted at or after it.
	NotContactedSince time.Time
	ContactedSince    time.Time
}

// AudienceMember is one (customer, member) pair a message may go
// through, with the customer's allowance.
type AudienceMember struct {
	CustomerID       string     `db:"customer_id" json:"customer_id"`
	StaffID          string     `db:"staff_id" json:"staff_id"`
	State            string     `db:"channel" json:"state"`
	Tags             []string   `db:"tags" json:"tags"`
	Since            *time.Time `db:"since" json:"since,omitempty"`
	LastContactAt    *time.Time `db:"last_contact_at" json:"last_contact_at,omitempty"`
	MarketingConsent string     `db:"marketing_consent" json:"marketing_consent"`
	// DayUsed, WeekUsed and MonthUsed count the customer's mass messages in
	// the windows holding At.
	DayUsed   int64 `db:"day_used" json:"day_used"`
	WeekUsed  int64 `db:"week_used" json:"week_used"`
	MonthUsed int64 `db:"month_used" json:"month_used"`
	// Remaining is what the tightest window still allows; nil when no
	// window is on (or for moments posts, which are not capped).
	Remaining *int64 `db:"-" json:"remaining"`
}

// windows are a query's cap windows: bounds and limits (-1: off).
type windows struct {
	start, end [3]time.Time
	limit      [3]int64
	lo, hi     time.Time
}

func capWindows(set corp.Settings, at time.Time) windows {
	var w windows
	loc := set.Location()
	caps := set.Caps()
	for i, name := range outreach.Windows {
		w.start[i], w.end[i] = outreach.Bounds(name, at, loc)
		w.limit[i] = -1
		if n, on := caps[name].Limit(name, at.In(loc)); on {
			w.limit[i] = int64(n)
		}
		if i == 0 || w.start[i].Before(w.lo) {
			w.lo = w.start[i]
		}
		if i == 0 || w.end[i].After(w.hi) {
			w.hi = w.end[i]
		}
	}
	return w
}

// audienceEligible is the rows' part of eligibility; it matches the
// partial indexes of outreach_audience.
const audienceEligible = `a.active AND NOT a.staff_departed AND NOT a.erased AND a.marketing_consent <> 'disagree'`

// audienceSQL builds the audience statement and its arguments for a page
// after (customer, staff) keys. The page size is written into the
// statement, not passed: a prepared statement's generic plan does not know
// a LIMIT parameter and may trade the ordered index scan for a sort.
func audienceSQL(corpID string, q AudienceQuery, after []string, limit int) (string, []any) {
	w := capWindows(q.Settings, q.At)
	args := []any{corpID, w.start[0], w.end[0], w.start[1], w.end[1], w.start[2], w.end[2], w.lo, w.hi}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	conds := []string{"a.corp_id = $1", audienceEligible}
	if q.StaffID != "" {
		conds = append(conds, "a.staff_id = "+arg(q.StaffID))
		if after[0] != "" {
			conds = append(conds, "a.customer_id > "+arg(after[0]))
		}
	} else if after[0] != "" {
		conds = append(conds, "(a.customer_id, a.staff_id) > ("+arg(after[0])+", "+arg(after[1])+")")
	}
	if len(q.Tags) > 0 {
		conds = append(conds, "a.tags @> "+arg(q.Tags)+"::text[]")
	}
	if q.State != "" {
		conds = append(conds, "a.channel = "+arg(q.State))
	}
	if q.ChatID != "" {
		conds = append(conds, `EXISTS (SELECT 1 FROM projections.outreach_group_members AS g
			WHERE g.corp_id = a.corp_id AND g.chat_id = `+arg(q.ChatID)+` AND g.customer_id = a.customer_id)`)
	}
	if !q.NotContactedSince.IsZero() {
		conds = append(conds, "(a.last_contact_at IS NULL OR a.last_contact_at < "+arg(q.NotContactedSince)+")")
	}
	if !q.ContactedSince.IsZero() {
		conds = append(conds, "a.last_contact_at >= "+arg(q.ContactedSince))
	}
	if q.Channel == events.ChannelMoments {
		conds = append(conds, "NOT a.moments_opted_out")
	} else {
		for i, col := range []string{"u.day_used", "u.week_used", "u.month_used"} {
			if w.limit[i] >= 0 {
				conds = append(conds, col+" < "+arg(w.limit[i]))
			}
		}
	}
	sql := `SELECT a.customer_id, a.staff_id, a.channel, a.tags, a.since, a.last_contact_at, a.marketing_consent,
			u.day_used, u.week_used, u.month_used
		FROM projections.outreach_audience AS a
		CROSS JOIN LATERAL (
			SELECT count(*) FILTER (WHERE d.sent_at >= $2 AND d.sent_at < $3) AS day_used,
				count(*) FILTER (WHERE d.sent_at >= $4 AND d.sent_at < $5) AS week_used,
				count(*) FILTER (WHERE d.sent_at >= $6 AND d.sent_at < $7) AS month_used
			FROM projections.outreach_deliveries AS d
			WHERE d.corp_id = a.corp_id AND d.recipient_kind = 'customer' AND d.recipient_id = a.customer_id
				AND d.counted AND d.sent_at >= $8 AND d.sent_at < $9
		) AS u
		WHERE ` + strings.Join(conds, "\n\t\t\tAND ") + `
		ORDER BY a.customer_id, a.staff_id
		LIMIT ` + strconv.Itoa(limit+1)
	return sql, args
}

// Audience lists the customers eligible for a message on q.At, one row per
// member they can be reached through, in (customer, member) order: an
// active relation with a member who has not departed, not erased,
// marketing consent not withdrawn, and (mass messages) an allowance left
// in every cap window, or (moments) not opted out of the member's moments.
// The cursor is keyset; a page costs an index range scan of the
// audience plus one index probe of the deliveries per row.
func (r *Reader) Audience(ctx context.Context, corpID string, q AudienceQuery, page Page) (Paged[AudienceMember], error) {
	after, limit, err := page.keys(2)
	if err != nil {
		return Paged[AudienceMember]{}, err
	}
	sql, args := audienceSQL(corpID, q, after, limit)
	items, err := collect[AudienceMember](ctx, r.db, sql, args...)
	if err != nil {
		return Paged[AudienceMember]{}, fmt.Errorf("projections: audience: %w", err)
	}
	if q.Channel != events.ChannelMoments {
		w := capWindows(q.Settings, q.At)
		for i := range items {
			items[i].Remaining = remaining(w, items[i].DayUsed, items[i].WeekUsed, items[i].MonthUsed)
		}
	}
	return paginate(items, limit, func(m AudienceMember) []string { return []string{m.CustomerID, m.StaffID} }), nil
}

func remaining(w windows, used ...int64) *int64 {
	var out *int64
	for i, u := range used {
		if w.limit[i] < 0 {
			continue
		}
		left := max(w.limit[i]-u, 0)
		if out == nil || left < *out {
			out = &left
		}
	}
	return out
}

// AudienceCounts are a corp's outreach figures on a date, for dashboards.
type AudienceCounts struct {
	// Customers have an active relation with a member who has not
	// departed. Of them: Erased, ConsentWithdrawn (not erased), AtCap
	// (neither, but a cap window is used up), Eligible (the rest).
	Customers        int64 `json:"customers"`
	Erased           int64 `json:"erased"`
	ConsentWithdrawn int64 `json:"consent_withdrawn"`
	AtCap            int64 `json:"at_cap"`
	Eligible         int64 `json:"eligible"`
	// MomentsOptedOut counts customers opted out of every member they
	// follow's moments.
	MomentsOptedOut int64 `json:"moments_opted_out"`
	// Delivered* count mass messages delivered in the day, week and month
	// holding the date; Flagged those WeCom reported although a rule
	// refused them (this month).
	DeliveredDay   int64 `json:"delivered_day"`
	DeliveredWeek  int64 `json:"delivered_week"`
	DeliveredMonth int64 `json:"delivered_month"`
	FlaggedMonth   int64 `json:"flagged_month"`
}

// AudienceCounts answers a corp's dashboard figures for the date q.At
// (q's filters other than Settings and At are ignored) from the counters
// the projection keeps (outreach_counts.go): a few index lookups and one
// index range per cap window that is on, whatever the corp's size. The
// caps are q.Settings', so a cap changed mid-window counts at once. When
// the counters' windows are cut in another time zone than q.Settings'
// (the projection has not seen the zone change yet, or PostgreSQL does
// not know the zone), it answers with the exact aggregate instead, which
// reads every audience row of the corp.
func (r *Reader) AudienceCounts(ctx context.Context, corpID string, q AudienceQuery) (AudienceCounts, error) {
	zone, err := r.countsZone(ctx, corpID)
	if err != nil {
		return AudienceCounts{}, fmt.Errorf("projections: audience counts: %w", err)
	}
	w := capWindows(q.Settings, q.At)
	if zone == q.Settings.Location().String() {
		return r.fastCounts(ctx, corpID, w)
	}
	return r.scanCounts(ctx, corpID, w)
}

// scanCounts is AudienceCounts as one aggregate over the corp's audience
// and deliveries: exact in any zone, slow for a big corp (12-24 s at
// 1,000,000 customers, BENCHMARKS.md). The tests use it as the counters'
// oracle.
func (r *Reader) scanCounts(ctx context.Context, corpID string, w windows) (AudienceCounts, error) {
	var c AudienceCounts
	err := r.db.QueryRow(ctx, `WITH cust AS (
			SELECT a.customer_id, bool_or(a.erased) AS erased, bool_or(a.marketing_consent = 'disagree') AS withdrawn,
				bool_and(a.moments_opted_out) AS opted_out
			FROM projections.outreach_audience AS a
			WHERE a.corp_id = $1 AND a.active AND NOT a.staff_departed
			GROUP BY a.customer_id
		), used AS (
			SELECT d.recipient_id AS customer_id,
				count(*) FILTER (WHERE d.sent_at >= $2 AND d.sent_at < $3) AS day_used,
				count(*) FILTER (WHERE d.sent_at >= $4 AND d.sent_at < $5) AS week_used,
				count(*) FILTER (WHERE d.sent_at >= $6 AND d.sent_at < $7) AS month_used
			FROM projections.outreach_deliveries AS d
			WHERE d.corp_id = $1 AND d.recipient_kind = 'customer' AND d.counted AND d.sent_at >= $8 AND d.sent_at < $9
			GROUP BY d.recipient_id
		), f AS (
			SELECT cust.*, coalesce(u.day_used, 0) >= $10 AND $10 >= 0 OR coalesce(u.week_used, 0) >= $11 AND $11 >= 0
				OR coalesce(u.month_used, 0) >= $12 AND $12 >= 0 AS capped
			FROM cust LEFT JOIN used AS u USING (customer_id)
		)
		SELECT count(*), count(*) FILTER (WHERE erased), count(*) FILTER (WHERE withdrawn AND NOT erased),
			count(*) FILTER (WHERE capped AND NOT erased AND NOT withdrawn),
			count(*) FILTER (WHERE NOT capped AND NOT erased AND NOT withdrawn),
			count(*) FILTER (WHERE opted_out),
			(SELECT count(*) FROM projections.outreach_deliveries AS d WHERE d.corp_id = $1 AND d.counted AND d.sent_at >= $2 AND d.sent_at < $3),
			(SELECT count(*) FROM projections.outreach_deliveries AS d WHERE d.corp_id = $1 AND d.counted AND d.sent_at >= $4 AND d.sent_at < $5),
			(SELECT count(*) FROM projections.outreach_deliveries AS d WHERE d.corp_id = $1 AND d.counted AND d.sent_at >= $6 AND d.sent_at < $7),
			(SELECT count(*) FROM projections.outreach_deliveries AS d WHERE d.corp_id = $1 AND d.sent_at >= $6 AND d.sent_at < $7
				AND cardinality(d.violations) > 0)
		FROM f`,
		corpID, w.start[0], w.end[0], w.start[1], w.end[1], w.start[2], w.end[2], w.lo, w.hi, w.limit[0], w.limit[1], w.limit[2],
	).Scan(&c.Customers, &c.Erased, &c.ConsentWithdrawn, &c.AtCap, &c.Eligible, &c.MomentsOptedOut,
		&c.DeliveredDay, &c.DeliveredWeek, &c.DeliveredMonth, &c.FlaggedMonth)
	if err != nil {
		return AudienceCounts{}, fmt.Errorf("projections: audience counts: %w", err)
	}
	return c, nil
}
