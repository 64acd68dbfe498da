package migrate_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"

	"github.com/custody/custody/adapters/eventlog/pgstore/migrate"
	"github.com/custody/custody/adapters/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_b.sql":   {Data: []byte("SELECT 10")},
		"m/0002_a.sql":   {Data: []byte("SELECT 2")},
		"m/README.md":    {Data: []byte("ignored")},
		"bad/x_a.sql":    {Data: []byte("")},
		"dup/0001_a.sql": {Data: []byte("")},
		"dup/1_b.sql":    {Data: []byte("")},
	}
	ms, err := migrate.Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 2 || ms[1].Version != 10 || ms[1].SQL != "SELECT 10" {
		t.Fatalf("loaded %+v", ms)
	}
	for _, dir := range []string{"bad", "dup"} {
		if _, err := migrate.Load(fsys, dir); !errors.Is(err, migrate.ErrBadName) {
			t.Errorf("%s: err %v, want ErrBadName", dir, err)
		}
	}
}

func TestApply(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	v1 := []migrate.Migration{{Version: 1, Name: "0001_t.sql", SQL: "CREATE TABLE t (a int); INSERT INTO t VALUES (1);"}}
	for range 2 {
		if err := migrate.Apply(ctx, pool, "x", v1); err != nil {
			t.Fatal(err)
		}
	}
	// Another component with the same version numbers is independent.
	if err := migrate.Apply(ctx, pool, "y", []migrate.Migration{{Version: 1, Name: "0001_u.sql", SQL: "CREATE TABLE u (a int)"}}); err != nil {
		t.Fatal(err)
	}
	// A failing migration rolls back every pending one of the call.
	v3 := append(v1,
		migrate.Migration{Version: 2, Name: "0002_ok.sql", SQL: "INSERT INTO t VALUES (2)"},
		migrate.Migration{Version: 3, Name: "0003_bad.sql", SQL: "SELECT * FROM nowhere"})
	if err := migrate.Apply(ctx, pool, "x", v3); err == nil {
		t.Fatal("a broken migration was applied")
	}
	var rows, recorded int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations WHERE component = 'x'").Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || recorded != 1 {
		t.Fatalf("after a failed run: %d rows in t, %d migrations recorded; want 1 and 1", rows, recorded)
	}
}
