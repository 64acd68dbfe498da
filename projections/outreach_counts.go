package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custody/custody/domain/corp"
)

// The dashboard's counters (sql/outreach/002_dashboard.sql) are derived
// from the rows the fold writes, by statements that run after the fold's
// writes in the transaction that changes what they count:
//
//   - the date-independent facts per customer (outreach_reach: reachable,
//     erased, consent withdrawn, opted out of every member's moments) and
//     their per-corp sums (outreach_counts, a row while the corp has
//     reachable customers), written for the customers whose reach the
//     batch changed, once after the fold's writes (queueReach);
//   - the date-dependent ones as counts per cap window (outreach_usage per
//     recipient, outreach_corp_usage per corp), cut in the corp's time
//     zone as the projection knows it (outreach_zones), added to by the
//     statement that writes a batch's new deliveries (queueDeliveries).
//
// A rebuild computes them from the final rows instead
// (outreach_rebuild.go).
//
// AudienceCounts then reads the sums and one index range per cap window:
// the customers whose window's count reached the cap asked with.

// outreachReach is a customer's reach (outreachCustomer.reach): whether
// it has a row of outreach_reach, and that row's columns.
type outreachReach struct {
	live   bool
	status string
	opted  bool
}

// same reports whether r and o give the customer the same row of
// outreach_reach (two without a row are the same).
func (r outreachReach) same(o outreachReach) bool { return r == o || !r.live && !o.live }

// outreachReachChanged names the rows the live fold of a customer emits
// for queueReach: (corp, customer, live, status, opted), one for each
// customer whose reach the batch changed. They are not a table.
const outreachReachChanged = "outreach_reach changed"

// outreachCustomerFold is the live fold of a (corp, customer) key: the
// rebuild's state, seeded from the customer's stored rows. The seed holds
// every outreach_audience row of the customer (a departure's fanout loads
// them too), so the reach it gives is the customer's before the batch,
// as outreach_reach holds it, and the fold's final state gives the reach
// after: only a customer whose reach differs is written again.
type outreachCustomerFold struct {
	outreachKeyFold[outreachCustomer, *outreachCustomer]
	before outreachReach
}

func (f *outreachCustomerFold) seed(k foldKey, rows map[string][][]any) {
	f.outreachKeyFold.seed(k, rows)
	f.before = f.reach()
}

func (f *outreachCustomerFold) finish(out *bulkOut) {
	f.outreachKeyFold.finish(out)
	if r := f.reach(); !r.same(f.before) {
		out.emit(outreachReachChanged, f.key[0], f.key[1], r.live, r.status, r.opted)
	}
}

func (f *outreachCustomerFold) reach() outreachReach {
	live, status, opted := f.s.reach()
	return outreachReach{live, status, opted}
}

// queueReach writes the reach of the customers whose reach the batch
// changed (the rows of outreachReachChanged, as their folds computed it
// from their final audience rows) into outreach_reach, outreach_usage's
// customer_open and, as differences from the stored rows of
// outreach_reach, the corps' outreach_counts. Every row is reached by its
// primary key from the (corp, customer) arrays, so the statement's cost
// follows the changed customers, not the corp's size, whatever plan
// PostgreSQL keeps for it. When a customer lost its reach, the counters
// of a corp left with no reachable customer go (dropZeroCounts).
func queueReach(w *Writer, b *pgx.Batch, out *bulkOut) {
	rows := out.rows[outreachReachChanged]
	if len(rows) == 0 {
		return
	}
	var corps, custs, statuses []string
	var live, opted []bool
	lost := false
	for _, r := range rows {
		corps, custs = append(corps, r[0].(string)), append(custs, r[1].(string))
		live, statuses, opted = append(live, r[2].(bool)), append(statuses, r[3].(string)), append(opted, r[4].(bool))
		lost = lost || !r[2].(bool)
	}
	b.Queue(w.sql(reachWrite), corps, custs, live, statuses, opted)
	if lost {
		b.Queue(w.sql(dropZeroCounts), slices.Compact(slices.Sorted(slices.Values(corps))))
	}
}

// reachWrite is queueReach's statement: $1 and $2 the customers' corps
// and ids, $3 to $5 their new reach (live, status, opted), one element
// per customer, a customer at most once. The stored row of each is read
// by a LATERAL subquery with a LIMIT, which PostgreSQL does not merge into
// a join: it runs per customer, a probe of the primary key (a join could
// be planned as a scan of the corp's rows).
const reachWrite = `WITH n AS (
		SELECT n.*, r.status AS old_status, coalesce(r.moments_opted_out, false) AS old_opted
		FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::boolean[]) AS n(corp_id, customer_id, reach, status, opted)
		LEFT JOIN LATERAL (SELECT r.status, r.moments_opted_out FROM {s}.outreach_reach AS r
			WHERE r.corp_id = n.corp_id AND r.customer_id = n.customer_id LIMIT 1) AS r ON true
	), o AS (
		SELECT * FROM n
		WHERE CASE WHEN reach THEN old_status IS DISTINCT FROM status OR old_opted IS DISTINCT FROM opted ELSE old_status IS NOT NULL END
	), gone AS (
		DELETE FROM {s}.outreach_reach AS r USING o
		WHERE r.corp_id = o.corp_id AND r.customer_id = o.customer_id AND NOT o.reach
	), kept AS (
		INSERT INTO {s}.outreach_reach (corp_id, customer_id, status, moments_opted_out)
		SELECT corp_id, customer_id, status, opted FROM o WHERE reach
		ORDER BY corp_id, customer_id
		ON CONFLICT (corp_id, customer_id) DO UPDATE SET status = excluded.status, moments_opted_out = excluded.moments_opted_out
	), usage AS (
		UPDATE {s}.outreach_usage AS u SET customer_open = (o.reach AND o.status = 'open')
		FROM o WHERE u.corp_id = o.corp_id AND u.recipient_kind = 'customer' AND u.recipient_id = o.customer_id
			AND u.customer_open IS DISTINCT FROM (o.reach AND o.status = 'open')
	)
	INSERT INTO {s}.outreach_counts AS k (corp_id, customers, erased, withdrawn, moments_opted_out)
	SELECT corp_id, sum(reach::int - (old_status IS NOT NULL)::int),
		sum((reach AND status = 'erased')::int - coalesce(old_status = 'erased', false)::int),
		sum((reach AND status = 'withdrawn')::int - coalesce(old_status = 'withdrawn', false)::int),
		sum((reach AND opted)::int - (old_status IS NOT NULL AND old_opted)::int)
	FROM o GROUP BY corp_id ORDER BY corp_id
	ON CONFLICT (corp_id) DO UPDATE SET customers = k.customers + excluded.customers, erased = k.erased + excluded.erased,
		withdrawn = k.withdrawn + excluded.withdrawn, moments_opted_out = k.moments_opted_out + excluded.moments_opted_out`

// dropZeroCounts removes the counters of the corps of the text array $1
// none of whose customers is reachable: a corp has a row of
// outreach_counts while it has rows of outreach_reach, whatever the
// batches its events came in.
const dropZeroCounts = `DELETE FROM {s}.outreach_counts WHERE corp_id = ANY($1::text[]) AND customers = 0`

// zoneOf is the corp's window zone as the projection knows it ($1 the corp).
const zoneOf = `coalesce((SELECT z.time_zone FROM {s}.outreach_zones AS z WHERE z.corp_id = $1), '` + corp.DefaultTimeZone + `')`

// periods are the cap windows as PostgreSQL's date_trunc names them
// (date_trunc('week') starts on Monday, as outreach.Bounds does).
const periods = `(VALUES ('day'), ('week'), ('month')) AS p(period)`

// outreachBatch is what a batch leaves for its end, per corp (in the
// order the batch first names them).
type outreachBatch struct {
	order []string
	corps map[string]*outreachCorpBatch
}

func (b *outreachBatch) of(corpID string) *outreachCorpBatch {
	c := b.corps[corpID]
	if c == nil {
		c = &outreachCorpBatch{}
		b.corps[corpID] = c
		b.order = append(b.order, corpID)
	}
	return c
}

// outreachCorpBatch is a corp's share of a batch: the deliveries not yet
// written (as columns).
type outreachCorpBatch struct {
	kind, id, msg, channel, staff, reported, vio []string
	at                                           []time.Time
	counted                                      []bool
}

// deliver records the first report of a delivery (a fact of
// outreachDelivered) to the recipient kind and id for queueDeliveries.
func (c *outreachCorpBatch) deliver(kind, id string, x outreachRead) {
	c.kind, c.id, c.msg, c.channel, c.staff = append(c.kind, kind), append(c.id, id), append(c.msg, x.msg),
		append(c.channel, x.txt), append(c.staff, x.staff)
	c.reported, c.vio = append(c.reported, x.txt2), append(c.vio, arrayLiteral(nonNil(x.list)))
	c.at, c.counted = append(c.at, x.at), append(c.counted, x.flag)
}

// queueDeliveries writes the corp's pending deliveries (each the fold of
// its key's reports in the batch) where no row is: a stored delivery is
// its fold already, as the first report is kept. It adds the ones written
// to the window counters of the zone the projection knows.
func (c *outreachCorpBatch) queueDeliveries(w *Writer, corpID string) {
	if len(c.kind) == 0 {
		return
	}
	w.Queue(`WITH d AS (
			SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::boolean[],
				$9::text[], $10::text[]) WITH ORDINALITY AS d(kind, id, msg, channel, staff, at, counted, reported, vio, n)
		), ins AS (
			INSERT INTO {s}.outreach_deliveries (corp_id, recipient_kind, recipient_id, message_id, channel, staff_id,
				sent_at, counted, reported_by, violations)
			SELECT $1, kind, id, msg, channel, staff, at, counted, reported, vio::text[] FROM d ORDER BY n
			ON CONFLICT DO NOTHING
			RETURNING recipient_kind, recipient_id, sent_at, counted, cardinality(violations) > 0 AS flagged
		), p AS (
			SELECT ins.*, p.period, date_trunc(p.period, ins.sent_at AT TIME ZONE z.tz) AT TIME ZONE z.tz AS start
			FROM ins CROSS JOIN (SELECT `+zoneOf+` AS tz) AS z CROSS JOIN `+periods+`
		), u AS (
			INSERT INTO {s}.outreach_usage AS u (corp_id, recipient_kind, recipient_id, period, period_start, used, customer_open)
			SELECT $1, recipient_kind, recipient_id, period, start, count(*), recipient_kind = 'customer' AND EXISTS (
				SELECT 1 FROM {s}.outreach_reach AS r WHERE r.corp_id = $1 AND r.customer_id = p.recipient_id AND r.status = 'open')
			FROM p WHERE counted
			GROUP BY recipient_kind, recipient_id, period, start
			ORDER BY recipient_kind, recipient_id, period, start
			ON CONFLICT (corp_id, recipient_kind, recipient_id, period, period_start) DO UPDATE SET used = u.used + excluded.used
		)
		INSERT INTO {s}.outreach_corp_usage AS c (corp_id, period, period_start, shard, delivered, flagged)
		SELECT $1, period, start, abs(hashtext(recipient_id)) % 64 AS shard, count(*) FILTER (WHERE counted), count(*) FILTER (WHERE flagged)
		FROM p WHERE counted OR flagged
		GROUP BY period, start, shard
		ORDER BY period, start, shard
		ON CONFLICT (corp_id, period, period_start, shard) DO UPDATE SET delivered = c.delivered + excluded.delivered,
			flagged = c.flagged + excluded.flagged`,
		corpID, c.kind, c.id, c.msg, c.channel, c.staff, c.at, c.counted, c.reported, c.vio)
	c.kind, c.id, c.msg, c.channel, c.staff, c.reported, c.vio, c.at, c.counted = nil, nil, nil, nil, nil, nil, nil, nil, nil
}

// queueZone follows a corp's time zone: when it changes to one PostgreSQL
// knows, the window counters of the corp are cut again in it. A zone
// PostgreSQL does not know leaves the counters as they are (the reader
// then answers with the exact aggregate).
func queueZone(w *Writer, corpID, zone string) {
	w.Queue(`INSERT INTO {s}.outreach_zones AS z (corp_id, time_zone, rebucket)
		SELECT $1, $2, true
		WHERE $2 <> `+zoneOf+` AND EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $2)
		ON CONFLICT (corp_id) DO UPDATE SET time_zone = excluded.time_zone, rebucket = true`, corpID, zone)
	const moving = `EXISTS (SELECT 1 FROM {s}.outreach_zones AS z WHERE z.corp_id = $1 AND z.rebucket)`
	w.Queue(`DELETE FROM {s}.outreach_usage WHERE corp_id = $1 AND `+moving, corpID)
	w.Queue(`DELETE FROM {s}.outreach_corp_usage WHERE corp_id = $1 AND `+moving, corpID)
	w.Queue(`INSERT INTO {s}.outreach_usage (corp_id, recipient_kind, recipient_id, period, period_start, used, customer_open)
		SELECT d.corp_id, d.recipient_kind, d.recipient_id, p.period, date_trunc(p.period, d.sent_at AT TIME ZONE z.time_zone) AT TIME ZONE z.time_zone,
			count(*), coalesce(bool_or(r.status = 'open' AND d.recipient_kind = 'customer'), false)
		FROM {s}.outreach_deliveries AS d CROSS JOIN {s}.outreach_zones AS z CROSS JOIN `+periods+`
		LEFT JOIN {s}.outreach_reach AS r ON r.corp_id = d.corp_id AND r.customer_id = d.recipient_id
		WHERE d.corp_id = $1 AND d.counted AND z.corp_id = $1 AND z.rebucket
		GROUP BY 1, 2, 3, 4, 5`, corpID)
	w.Queue(`INSERT INTO {s}.outreach_corp_usage (corp_id, period, period_start, shard, delivered, flagged)
		SELECT d.corp_id, p.period, date_trunc(p.period, d.sent_at AT TIME ZONE z.time_zone) AT TIME ZONE z.time_zone,
			(abs(hashtext(d.recipient_id)) % 64), count(*) FILTER (WHERE d.counted), count(*) FILTER (WHERE cardinality(d.violations) > 0)
		FROM {s}.outreach_deliveries AS d CROSS JOIN {s}.outreach_zones AS z CROSS JOIN `+periods+`
		WHERE d.corp_id = $1 AND (d.counted OR cardinality(d.violations) > 0) AND z.corp_id = $1 AND z.rebucket
		GROUP BY 1, 2, 3, 4`, corpID)
	w.Queue(`UPDATE {s}.outreach_zones SET rebucket = false WHERE corp_id = $1 AND rebucket`, corpID)
}

// countsSQL is the dashboard statement over the counters for windows w
// ($1 the corp). A window that is off adds no at-cap range.
func countsSQL(corpID string, w windows) (string, []any) {
	args := []any{corpID, w.start[0], w.start[1], w.start[2]}
	var capped []string
	for i, name := range []string{"day", "week", "month"} {
		if w.limit[i] < 0 {
			continue
		}
		args = append(args, w.limit[i])
		capped = append(capped, `SELECT u.recipient_id FROM projections.outreach_usage AS u
			WHERE u.corp_id = $1 AND u.customer_open AND u.period = '`+name+`' AND u.period_start = $`+
			strconv.Itoa(2+i)+` AND u.used >= $`+strconv.Itoa(len(args)))
	}
	atCap := "0::bigint"
	if len(capped) > 0 {
		atCap = `(SELECT count(*) FROM (` + strings.Join(capped, "\n\t\t\tUNION ") + `) AS capped)`
	}
	usage := func(period, col string, start int) string {
		return `coalesce((SELECT sum(c.` + col + `)::bigint FROM projections.outreach_corp_usage AS c
			WHERE c.corp_id = $1 AND c.period = '` + period + `' AND c.period_start = $` + strconv.Itoa(start) + `), 0)`
	}
	return `SELECT coalesce(k.customers, 0), coalesce(k.erased, 0), coalesce(k.withdrawn, 0), ` + atCap + `,
			coalesce(k.moments_opted_out, 0), ` + usage("day", "delivered", 2) + `, ` + usage("week", "delivered", 3) + `, ` +
		usage("month", "delivered", 4) + `, ` + usage("month", "flagged", 4) + `
		FROM (VALUES (1)) AS one(x) LEFT JOIN projections.outreach_counts AS k ON k.corp_id = $1`, args
}

// countsZone is the zone the corp's window counters are cut in.
func (r *Reader) countsZone(ctx context.Context, corpID string) (string, error) {
	var zone string
	err := r.db.QueryRow(ctx, `SELECT time_zone FROM projections.outreach_zones WHERE corp_id = $1`, corpID).Scan(&zone)
	if errors.Is(err, pgx.ErrNoRows) {
		return corp.DefaultTimeZone, nil
	}
	return zone, err
}

// fastCounts answers AudienceCounts from the counters.
func (r *Reader) fastCounts(ctx context.Context, corpID string, w windows) (AudienceCounts, error) {
	sql, args := countsSQL(corpID, w)
	var c AudienceCounts
	var withdrawn int64
	if err := r.db.QueryRow(ctx, sql, args...).Scan(&c.Customers, &c.Erased, &withdrawn, &c.AtCap, &c.MomentsOptedOut,
		&c.DeliveredDay, &c.DeliveredWeek, &c.DeliveredMonth, &c.FlaggedMonth); err != nil {
		return AudienceCounts{}, fmt.Errorf("projections: audience counts: %w", err)
	}
	c.ConsentWithdrawn = withdrawn
	c.Eligible = c.Customers - c.Erased - c.ConsentWithdrawn - c.AtCap
	return c, nil
}
