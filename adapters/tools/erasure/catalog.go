// Package erasure carries a data subject's erasure (PIPL Art. 47) to every
// copy of its personal data that custody made in PostgreSQL, and checks that
// none is left.
//
// The event log needs nothing: personal data is sealed there under the
// subject's key, and destroying the key (commands.EraseCustomer) is the
// erasure. Everything custody derived from the log while the key existed is
// a copy in plaintext: the live projections, the shadow schemas of a
// rebuild (projections_rebuild_*, with their staging tables), the tables a
// rebuild swap retires (projections_retired_*) and every replay schema
// (custody replay, including one still being built). Scrub blanks the
// personal columns of erased subjects in all of them; Verify looks for any
// residue of one subject anywhere SQL can read, including PostgreSQL's
// column statistics (pg_stats), and reports it.
//
// What this package cannot reach — WAL, base backups, page free space
// before a table is rewritten, exported files, brokers' retention and
// consumers' copies — is listed in Unreachable and in docs/erasure.md.
package erasure

import "strings"

// Column is a personal column and the value it holds when blank.
type Column struct {
	Name  string
	Blank string // SQL literal
}

// Table describes where a table keeps personal data and whose it is. The
// same table name may have different shapes in different schemas (every
// rebuild shadow has its own bulk_staging); a Table applies to a schema's
// table only when that table has every column in Needs and Columns.
type Table struct {
	Name string
	// Subject is an SQL expression over the row yielding the data subject
	// (events.CustomerSubject / events.StaffSubject) the personal columns
	// belong to.
	Subject string
	Columns []Column
	// Needs lists the columns Subject reads.
	Needs []string
}

const (
	customerSubject = `'customer/' || corp_id || '/' || customer_id`
	memberSubject   = `CASE WHEN member_type = 'staff' THEN 'staff/' ELSE 'customer/' END || corp_id || '/' || member_id`
)

var (
	text  = func(n string) Column { return Column{Name: n, Blank: "''"} }
	array = func(n string) Column { return Column{Name: n, Blank: "'{}'"} }
)

// Personal lists every table of a projection schema (live, shadow, retired
// or replay) with personal columns. These columns are also the ones whose
// statistics are disabled (SET STATISTICS 0) by the projections'
// migrations, so that pg_stats never samples them.
//
// The handover message and the group names and notices are free text that
// routinely names customers; they are listed here so that erasure and
// Verify treat them as personal data of the customer (message) and of every
// customer member (see docs/erasure.md for the classification).
var Personal = []Table{
	{Name: "customers", Subject: customerSubject, Needs: []string{"corp_id", "customer_id"},
		Columns: []Column{text("name")}},
	{Name: "relations", Subject: customerSubject, Needs: []string{"corp_id", "customer_id"},
		Columns: []Column{text("customer_name"), text("remark"), text("description"), array("phones")}},
	{Name: "group_members", Subject: memberSubject, Needs: []string{"corp_id", "member_type", "member_id"},
		Columns: []Column{text("nickname")}},
	{Name: "group_membership_history", Subject: memberSubject, Needs: []string{"corp_id", "member_type", "member_id"},
		Columns: []Column{text("nickname")}},
	{Name: "staff", Subject: `'staff/' || corp_id || '/' || staff_id`, Needs: []string{"corp_id", "staff_id"},
		Columns: []Column{text("name")}},
	{Name: "handovers", Subject: customerSubject, Needs: []string{"corp_id", "customer_id"},
		Columns: []Column{text("message")}},

	// The staging tables of a rebuild's bulk load (projections/bulk.go):
	// one per shadow schema, each with its projection's columns.
	{Name: "bulk_staging", Subject: `'customer/' || corp || '/' || cust`, Needs: []string{"corp", "cust", "remark"},
		Columns: []Column{text("name"), text("remark"), text("description"), array("phones")}},
	{Name: "bulk_staging", Subject: `'customer/' || corp || '/' || cust`, Needs: []string{"corp", "cust", "staff"},
		Columns: []Column{text("name")}},
	{Name: "bulk_staging", Subject: `'customer/' || corp || '/' || cust`, Needs: []string{"corp", "cust", "hid"},
		Columns: []Column{text("message")}},
	{Name: "bulk_staging", Subject: `CASE WHEN mtype = 'staff' THEN 'staff/' ELSE 'customer/' END || corp || '/' || member`,
		Needs: []string{"corp", "member", "mtype"}, Columns: []Column{text("nick")}},
	{Name: "bulk_staging", Subject: `'staff/' || corp || '/' || staff`, Needs: []string{"corp", "staff", "capacity"},
		Columns: []Column{text("name")}},
}

// columns returns every column t reads.
func (t Table) columns() []string {
	out := append([]string(nil), t.Needs...)
	for _, c := range t.Columns {
		out = append(out, c.Name)
	}
	return out
}

// nonBlank is the SQL condition "some personal column of t is not blank".
func (t Table) nonBlank() string {
	var parts []string
	for _, c := range t.Columns {
		parts = append(parts, ident(c.Name)+" IS DISTINCT FROM "+c.Blank)
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// blankAll is the SET list blanking every personal column of t.
func (t Table) blankAll() string {
	var parts []string
	for _, c := range t.Columns {
		parts = append(parts, ident(c.Name)+" = "+c.Blank)
	}
	return strings.Join(parts, ", ")
}
