package projections

import (
	"context"
	"errors"
	"fmt"
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
//     reachable customers), refreshed from the final audience rows of the
//     customers a batch changed, once at its end (refreshChanged);
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

// reachRefresh recomputes outreach_reach for the customers `targets`
// selects ($1 the corp) and adds the differences to outreach_counts. A
// member named by $2 counts as departed already (staff.departed refreshes
// before it marks the rows; NULL for none).
func reachRefresh(targets string) string {
	return `WITH n AS (
			SELECT t.customer_id, s.live > 0 AS reach,
				CASE WHEN s.erased THEN 'erased' WHEN s.withdrawn THEN 'withdrawn' ELSE 'open' END AS status,
				coalesce(s.opted, false) AS opted
			FROM (` + targets + `) AS t(customer_id)
			CROSS JOIN LATERAL (
				SELECT count(*) AS live, bool_or(a.erased) AS erased, bool_or(a.marketing_consent = 'disagree') AS withdrawn,
					bool_and(a.moments_opted_out) AS opted
				FROM {s}.outreach_audience AS a
				WHERE a.corp_id = $1 AND a.customer_id = t.customer_id AND a.active AND NOT a.staff_departed
					AND a.staff_id IS DISTINCT FROM $2::text
			) AS s
		), o AS (
			SELECT n.*, r.status AS old_status, coalesce(r.moments_opted_out, false) AS old_opted
			FROM n LEFT JOIN {s}.outreach_reach AS r ON r.corp_id = $1 AND r.customer_id = n.customer_id
			WHERE CASE WHEN n.reach THEN r.status IS DISTINCT FROM n.status OR r.moments_opted_out IS DISTINCT FROM n.opted
				ELSE r.status IS NOT NULL END
		), gone AS (
			DELETE FROM {s}.outreach_reach AS r USING o
			WHERE r.corp_id = $1 AND r.customer_id = o.customer_id AND NOT o.reach
		), kept AS (
			INSERT INTO {s}.outreach_reach (corp_id, customer_id, status, moments_opted_out)
			SELECT $1, customer_id, status, opted FROM o WHERE reach
			ON CONFLICT (corp_id, customer_id) DO UPDATE SET status = excluded.status, moments_opted_out = excluded.moments_opted_out
		), usage AS (
			UPDATE {s}.outreach_usage AS u SET customer_open = (o.reach AND o.status = 'open')
			FROM o WHERE u.corp_id = $1 AND u.recipient_kind = 'customer' AND u.recipient_id = o.customer_id
				AND u.customer_open IS DISTINCT FROM (o.reach AND o.status = 'open')
		)
		INSERT INTO {s}.outreach_counts AS k (corp_id, customers, erased, withdrawn, moments_opted_out)
		SELECT $1, sum(reach::int - (old_status IS NOT NULL)::int),
			sum((reach AND status = 'erased')::int - coalesce(old_status = 'erased', false)::int),
			sum((reach AND status = 'withdrawn')::int - coalesce(old_status = 'withdrawn', false)::int),
			sum((reach AND opted)::int - (old_status IS NOT NULL AND old_opted)::int)
		FROM o HAVING count(*) > 0
		ON CONFLICT (corp_id) DO UPDATE SET customers = k.customers + excluded.customers, erased = k.erased + excluded.erased,
			withdrawn = k.withdrawn + excluded.withdrawn, moments_opted_out = k.moments_opted_out + excluded.moments_opted_out`
}

// refreshChanged refreshes, after the folds' writes, the customers of the
// text array $3 and those with an active pair of a member of the text
// array $4 (departed in the batch). A customer refreshed whose reach did
// not change costs a read and writes nothing.
var refreshChanged = reachRefresh(`SELECT unnest($3::text[]) UNION SELECT a.customer_id FROM {s}.outreach_audience AS a
	WHERE a.corp_id = $1 AND a.staff_id = ANY($4::text[]) AND a.active`)

// dropZeroCounts removes the counters of a corp ($1) none of whose
// customers is reachable: a corp has a row of outreach_counts while it has
// rows of outreach_reach, whatever the batches its events came in.
const dropZeroCounts = `DELETE FROM {s}.outreach_counts WHERE corp_id = $1 AND customers = 0`

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
		c = &outreachCorpBatch{touched: map[string]bool{}, departed: map[string]bool{}}
		b.corps[corpID] = c
		b.order = append(b.order, corpID)
	}
	return c
}

// outreachCorpBatch is a corp's share of a batch: the customers whose
// reach may have changed, the members who departed and the deliveries not
// yet written (as columns).
type outreachCorpBatch struct {
	touched, departed                            map[string]bool
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
