package pii

import (
	"bytes"
	"context"
	"testing"

	"github.com/custody/custody/adapters/testkit/pgtest"
)

// TestCreateManyRace: a subject given a key by another writer between
// CreateMany's lookup and its copy keeps that key, is not reported
// created, and the other subjects' keys are stored all the same (the
// fallback to INSERT … ON CONFLICT). Without a race, every subject without
// a row is stored and reported, and a subject with a key or a tombstone is
// neither.
func TestCreateManyRace(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	s := NewPostgresKeyStore(pool)
	if _, err := s.LoadOrCreate(ctx, "had", []byte("had-key")); err != nil {
		t.Fatal(err)
	}
	if err := s.Erase(ctx, "erased"); err != nil {
		t.Fatal(err)
	}
	created, err := s.createMany(ctx, map[string][]byte{"a": []byte("a-key"), "had": []byte("new"), "erased": []byte("new")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 1 || !created["a"] {
		t.Errorf("created %v, want only a", created)
	}

	fresh := map[string][]byte{"b": []byte("b-key"), "raced": []byte("mine"), "c": []byte("c-key")}
	created, err = s.createMany(ctx, fresh, func(ctx context.Context) error {
		_, err := s.LoadOrCreate(ctx, "raced", []byte("theirs"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 2 || !created["b"] || !created["c"] {
		t.Errorf("created %v, want b and c", created)
	}
	for sub, want := range map[string]string{"a": "a-key", "had": "had-key", "b": "b-key", "c": "c-key", "raced": "theirs"} {
		got, err := s.Load(ctx, sub)
		if err != nil || !bytes.Equal(got, []byte(want)) {
			t.Errorf("%s: key %q, %v; want %q", sub, got, err, want)
		}
	}
	if _, err := s.Load(ctx, "erased"); err != ErrErased {
		t.Errorf("erased subject: %v", err)
	}
}
