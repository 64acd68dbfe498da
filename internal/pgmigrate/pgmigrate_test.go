package pgmigrate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/internal/pgmigrate"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_b.sql":    {Data: []byte("SELECT 10")},
		"m/0002_a.sql":    {Data: []byte("SELECT 2")},
		"m/README.md":     {Data: []byte("ignored")},
		"gap/0001_a.sql":  {Data: []byte("")},
		"gap/0003_c.sql":  {Data: []byte("")},
		"ok/0002_b.sql":   {Data: []byte("SELECT 2")},
		"ok/001_a.sql":    {Data: []byte("SELECT 1")},
		"ok/notes.txt":    {Data: []byte("ignored")},
		"bad/x_a.sql":     {Data: []byte("")},
		"zero/0000_a.sql": {Data: []byte("")},
		"dup/0001_a.sql":  {Data: []byte("")},
		"dup/1_b.sql":     {Data: []byte("")},
	}
	ms, err := pgmigrate.Load(fsys, "ok")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 1 || ms[1].Version != 2 || ms[1].SQL != "SELECT 2" || ms[0].Name != "001_a.sql" {
		t.Fatalf("loaded %+v", ms)
	}
	for _, dir := range []string{"m", "gap", "bad", "zero", "dup", "missing"} {
		if _, err := pgmigrate.Load(fsys, dir); !errors.Is(err, pgmigrate.ErrBadMigration) {
			t.Errorf("%s: err %v, want ErrBadMigration", dir, err)
		}
	}
}

// TestPlanRejectsBeforeTouching: a malformed list is refused before the
// database is touched (no schema_migrations table appears).
func TestPlanRejectsBeforeTouching(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	ok := pgmigrate.Component{Name: "a", Migrations: []pgmigrate.Migration{{Version: 1, Name: "0001_a.sql", SQL: "CREATE TABLE a (x int)"}}}
	for name, cs := range map[string][]pgmigrate.Component{
		"duplicate component": {ok, ok},
		"empty name":          {{Name: "", Migrations: ok.Migrations}},
		"version gap":         {{Name: "g", Migrations: []pgmigrate.Migration{{Version: 2, Name: "0002_g.sql", SQL: "SELECT 1"}}}},
		"bad file":            {{Name: "f", FS: fstest.MapFS{"d/one.sql": {}}, Dir: "d"}},
	} {
		if _, err := pgmigrate.Run(ctx, pool, cs...); !errors.Is(err, pgmigrate.ErrBadMigration) {
			t.Errorf("%s: err %v, want ErrBadMigration", name, err)
		}
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL OR to_regclass('a') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("a refused run touched the database")
	}
}

func count(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRun(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	x1 := pgmigrate.Component{Name: "x", FS: fstest.MapFS{
		"sql/0001_t.sql": {Data: []byte("CREATE TABLE t (a int); INSERT INTO t VALUES (1);")},
	}, Dir: "sql"}
	y := pgmigrate.Component{Name: "y", Migrations: []pgmigrate.Migration{{Version: 1, Name: "0001_u.sql", SQL: "CREATE TABLE u (a int)"}}}
	got, err := pgmigrate.Run(ctx, pool, x1, y)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[x 1 0001_t.sql y 1 0001_u.sql]" {
		t.Fatalf("applied %v", got)
	}
	// Nothing runs twice: the INSERT would add a second row.
	if got, err := pgmigrate.Run(ctx, pool, x1, y); err != nil || len(got) != 0 {
		t.Fatalf("second run: applied %v, err %v", got, err)
	}
	if n := count(t, pool, "SELECT count(*) FROM t"); n != 1 {
		t.Fatalf("t has %d rows, want 1", n)
	}

	// A failing migration rolls back everything pending in the run, of
	// every component.
	x3 := pgmigrate.Component{Name: "x", Migrations: []pgmigrate.Migration{
		{Version: 1, Name: "0001_t.sql", SQL: "CREATE TABLE t (a int); INSERT INTO t VALUES (1);"},
		{Version: 2, Name: "0002_ok.sql", SQL: "INSERT INTO t VALUES (2)"},
		{Version: 3, Name: "0003_bad.sql", SQL: "SELECT * FROM nowhere"},
	}}
	z := pgmigrate.Component{Name: "z", Migrations: []pgmigrate.Migration{{Version: 1, Name: "0001_z.sql", SQL: "CREATE TABLE z (a int)"}}}
	if _, err := pgmigrate.Run(ctx, pool, z, x3); err == nil {
		t.Fatal("a broken migration was applied")
	}
	if n := count(t, pool, "SELECT count(*) FROM t"); n != 1 {
		t.Fatalf("after a failed run t has %d rows, want 1", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM schema_migrations WHERE component IN ('x', 'z')"); n != 1 {
		t.Fatalf("after a failed run %d migrations of x and z recorded, want 1", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM pg_tables WHERE tablename = 'z'"); n != 0 {
		t.Fatal("table z of the failed run exists")
	}

	// A database migrated further than this build knows is refused.
	if _, err := pgmigrate.Run(ctx, pool, pgmigrate.Component{Name: "x"}); !errors.Is(err, pgmigrate.ErrNewerDatabase) {
		t.Fatalf("older build: err %v, want ErrNewerDatabase", err)
	}
}

// TestAdoptAndAfter: a component whose tables an older mechanism created
// records the versions Adopt reports without running them, and runs the
// rest; After sees the final version every run.
func TestAdoptAndAfter(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	// The old mechanism's state: table at "version 1", its own counter.
	if _, err := pool.Exec(ctx, "CREATE TABLE legacy (a int); CREATE TABLE legacy_version (v int); INSERT INTO legacy_version VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	var afters []int
	c := pgmigrate.Component{
		Name: "legacy",
		Migrations: []pgmigrate.Migration{
			{Version: 1, Name: "0001_create.sql", SQL: "CREATE TABLE legacy (a int)"}, // would fail if run
			{Version: 2, Name: "0002_b.sql", SQL: "ALTER TABLE legacy ADD COLUMN b int"},
		},
		Adopt: func(ctx context.Context, tx pgx.Tx) (int, error) {
			var v int
			err := tx.QueryRow(ctx, "SELECT v FROM legacy_version").Scan(&v)
			return v, err
		},
		After: func(ctx context.Context, tx pgx.Tx, version int) error {
			afters = append(afters, version)
			_, err := tx.Exec(ctx, "UPDATE legacy_version SET v = $1", version)
			return err
		},
	}
	got, err := pgmigrate.Run(ctx, pool, c)
	if err != nil {
		t.Fatal(err)
	}
	want := "[legacy 1 0001_create.sql (adopted: already present) legacy 2 0002_b.sql]"
	if fmt.Sprint(got) != want {
		t.Fatalf("applied %v, want %v", got, want)
	}
	if got, err := pgmigrate.Run(ctx, pool, c); err != nil || len(got) != 0 {
		t.Fatalf("second run: applied %v, err %v", got, err)
	}
	if fmt.Sprint(afters) != "[2 2]" {
		t.Fatalf("After saw %v", afters)
	}
	if n := count(t, pool, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'legacy' AND column_name = 'b'"); n != 1 {
		t.Fatal("version 2 was not applied")
	}
}

// TestConcurrentStarters: many processes (one pool each) migrating one
// database at once all succeed, every migration runs exactly once, and
// exactly one of them reports applying it.
func TestConcurrentStarters(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	var cs []pgmigrate.Component
	for i := range 4 {
		name := fmt.Sprintf("c%d", i)
		cs = append(cs, pgmigrate.Component{Name: name, Migrations: []pgmigrate.Migration{
			{Version: 1, Name: "0001_create.sql", SQL: fmt.Sprintf("CREATE SCHEMA %[1]s; CREATE TABLE %[1]s.t (a int)", name)},
			{Version: 2, Name: "0002_insert.sql", SQL: fmt.Sprintf("INSERT INTO %s.t VALUES (1)", name)},
		}})
	}
	const starters = 12
	var wg sync.WaitGroup
	results := make([][]pgmigrate.Applied, starters)
	errs := make([]error, starters)
	for i := range starters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := pgxpool.New(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			results[i], errs[i] = pgmigrate.Run(ctx, pool, cs...)
		}()
	}
	wg.Wait()
	total := 0
	for i := range starters {
		if errs[i] != nil {
			t.Errorf("starter %d: %v", i, errs[i])
		}
		if len(results[i]) != 0 && len(results[i]) != 8 {
			t.Errorf("starter %d applied part of the work: %v", i, results[i])
		}
		total += len(results[i])
	}
	if total != 8 {
		t.Errorf("%d migrations reported applied in all, want 8", total)
	}
	check, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	for _, c := range cs {
		if n := count(t, check, fmt.Sprintf("SELECT count(*) FROM %s.t", c.Name)); n != 1 {
			t.Errorf("%s.t has %d rows, want 1", c.Name, n)
		}
	}
	if n := count(t, check, "SELECT count(*) FROM schema_migrations"); n != 8 {
		t.Errorf("%d versions recorded, want 8", n)
	}
}
