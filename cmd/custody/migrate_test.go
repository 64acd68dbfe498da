package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/internal/pgmigrate"
)

// runMigrateOn runs `custody migrate` on the database url and returns what
// it printed.
func runMigrateOn(t *testing.T, url string) string {
	t.Helper()
	t.Setenv("DATABASE_URL", url)
	t.Setenv("CUSTODY_EVENT_LOG", "")
	var out, stderr bytes.Buffer
	old := migrateOut
	migrateOut = &out
	defer func() { migrateOut = old }()
	if err := run(context.Background(), []string{"migrate"}, &stderr); err != nil {
		t.Fatalf("custody migrate: %v\n%s", err, stderr.String())
	}
	return out.String()
}

// schemaOf describes every table of custody's schemas: columns (type,
// nullability, default, statistics target), constraints and indexes.
func schemaOf(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, q := range []string{
		`SELECT format('column %s.%s.%s %s null=%s default=%s stats=%s', n.nspname, c.relname, a.attname,
			format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attstattarget)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE n.nspname IN ('public', 'projections', 'wecom') AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped`,
		`SELECT format('constraint %s.%s %s %s', n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid))
		FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('public', 'projections', 'wecom')`,
		`SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname IN ('public', 'projections', 'wecom')`,
	} {
		rows, err := pool.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ss...)
	}
	slices.Sort(out)
	return out
}

func newPoolOn(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestMigratePrintsWhatItApplied: on an empty database custody migrate
// applies every component's migrations and prints each; run again, it
// applies nothing.
func TestMigratePrintsWhatItApplied(t *testing.T) {
	url := pgtest.NewDatabase(t)
	out := runMigrateOn(t, url)
	cs, err := migrationComponents()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgmigrate.Plan(cs)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, c := range cs {
		for _, m := range plan[i] {
			want = append(want, fmt.Sprintf("applied %s %d %s", c.Name, m.Version, m.Name))
		}
	}
	if got := strings.Split(strings.TrimSpace(out), "\n"); !slices.Equal(got, want) {
		t.Fatalf("custody migrate printed\n%s\nwant\n%s", out, strings.Join(want, "\n"))
	}
	for _, name := range []string{"pii", "pgstore", "projections", "projections.customers", "httpapi", "relay", "wecom.inbox", "wecom.outbound"} {
		if !strings.Contains(out, "applied "+name+" 1 ") {
			t.Errorf("component %s missing from the output", name)
		}
	}
	if again := runMigrateOn(t, url); again != "up to date: nothing to apply\n" {
		t.Fatalf("second custody migrate printed %q", again)
	}
}

// TestMigrateAdoptsLegacyDatabase: a database that the previous release's
// migration mechanisms built (testdata/legacy_schema.sql, with rows) is
// upgraded without error, keeps its rows, has exactly the schema of a
// database migrated from empty, and is then up to date.
func TestMigrateAdoptsLegacyDatabase(t *testing.T) {
	ctx := context.Background()
	dump, err := os.ReadFile("testdata/legacy_schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	legacyURL := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, legacyURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, string(dump), pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("load the legacy database: %v", err)
	}
	conn.Close(ctx)
	legacy := newPoolOn(t, legacyURL)
	before := schemaOf(t, legacy)

	out := runMigrateOn(t, legacyURL)
	// The event log's, the keyring's, the erasure tool's and the slot
	// keeper's migrations were recorded by the old runner: not run again.
	// (Versions written since, such as pgstore 3, the staff snapshots,
	// are new to a legacy database and do run.)
	for _, c := range []string{"applied pii ", "applied pgstore 1 ", "applied pgstore 2 ", "applied erasure ", "applied pgcheckpoint "} {
		if strings.Contains(out, c) {
			t.Errorf("%q re-applied on a legacy database:\n%s", c, out)
		}
	}
	// Projections' versions came from their checkpoints: adopted, not run
	// (the CREATE TABLEs of version 1 would fail).
	if !strings.Contains(out, "applied projections.staff 4 004_personal_statistics.sql (adopted: already present)") {
		t.Errorf("staff's versions not adopted:\n%s", out)
	}
	// A projection added after the legacy release (outreach) has no
	// tables there: its migrations run.
	newSinceLegacy := []string{"applied projections.outreach "}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "applied projections.") && !strings.HasSuffix(l, "(adopted: already present)") &&
			!slices.ContainsFunc(newSinceLegacy, func(p string) bool { return strings.HasPrefix(l, p) }) {
			t.Errorf("projection migration run on a legacy database: %s", l)
		}
	}
	for _, p := range newSinceLegacy {
		if !strings.Contains(out, p+"1 ") {
			t.Errorf("%q not run on a legacy database:\n%s", p, out)
		}
	}

	after := schemaOf(t, legacy)
	fresh := newPoolOn(t, pgtest.NewDatabase(t))
	if _, err := pgmigrate.Run(ctx, fresh, mustComponents(t)...); err != nil {
		t.Fatal(err)
	}
	want := schemaOf(t, fresh)
	want = slices.DeleteFunc(want, func(s string) bool { return strings.Contains(s, "schema_migrations") })
	after = slices.DeleteFunc(after, func(s string) bool { return strings.Contains(s, "schema_migrations") })
	if !slices.Equal(after, want) {
		t.Errorf("upgraded legacy schema differs from a fresh one:\nonly upgraded: %v\nonly fresh: %v", minus(after, want), minus(want, after))
	}
	before = slices.DeleteFunc(before, func(s string) bool { return strings.Contains(s, "schema_migrations") })
	if len(before) == 0 || len(minus(before, after)) != 0 {
		t.Errorf("the upgrade changed or lost legacy schema: %v", minus(before, after))
	}

	var token, route string
	var commit int64
	var version int
	if err := legacy.QueryRow(ctx, `SELECT (SELECT id FROM http_tokens), (SELECT route FROM relay_checkpoints),
		(SELECT commit_pos FROM projections.projection_checkpoints WHERE name = 'customers'),
		(SELECT schema_version FROM projections.projection_checkpoints WHERE name = 'staff')`).Scan(&token, &route, &commit, &version); err != nil {
		t.Fatal(err)
	}
	if token != "tok-legacy" || route != "legacy" || commit != 7 || version != 4 {
		t.Errorf("legacy rows after the upgrade: token %q, route %q, customers at %d, staff schema %d", token, route, commit, version)
	}
	if again := runMigrateOn(t, legacyURL); again != "up to date: nothing to apply\n" {
		t.Fatalf("second custody migrate printed %q", again)
	}
}

// TestMigrateConcurrentStarters: several custody processes starting on one
// empty database at once (one pool each) all migrate without error, and
// every migration is applied once.
func TestMigrateConcurrentStarters(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const starters = 8
	var wg sync.WaitGroup
	applied := make([]int, starters)
	errs := make([]error, starters)
	for i := range starters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := pgxpool.New(context.Background(), url)
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			a, err := migrateAllReport(context.Background(), pool)
			applied[i], errs[i] = len(a), err
		}()
	}
	wg.Wait()
	total, winners := 0, 0
	for i := range starters {
		if errs[i] != nil {
			t.Errorf("starter %d: %v", i, errs[i])
		}
		if applied[i] > 0 {
			winners++
		}
		total += applied[i]
	}
	var recorded int
	if err := newPoolOn(t, url).QueryRow(context.Background(), "SELECT count(*) FROM schema_migrations").Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if winners != 1 || total != recorded {
		t.Errorf("%d starters applied %d migrations in all; want one starter applying all %d", winners, total, recorded)
	}
}

func mustComponents(t *testing.T) []pgmigrate.Component {
	t.Helper()
	cs, err := migrationComponents()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// minus is a without the elements of b.
func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// TestEveryComponentIsListed: every pgmigrate component a package declares
// (pgmigrate.Component{Name: "…"} in its source) is in app.go's
// migrationComponents, so a new component's tables are not forgotten by
// custody migrate.
func TestEveryComponentIsListed(t *testing.T) {
	listed := map[string]bool{}
	for _, c := range mustComponents(t) {
		listed[c.Name] = true
	}
	decl := regexp.MustCompile(`pgmigrate\.Component\{Name: "([^"]+)"`)
	found := 0
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllSubmatch(b, -1) {
			found++
			if !listed[string(m[1])] {
				t.Errorf("%s declares migration component %q, which cmd/custody/app.go does not list", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 9 {
		t.Fatalf("found %d component declarations; the walk missed the packages", found)
	}
}
