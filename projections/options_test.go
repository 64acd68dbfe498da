package projections

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	err := Options{Projections: []Projection{Staff{}, Staff{}, fakeNamed{"Bad-Name"}}, BatchSize: -1, Parallel: -2,
		RetryDelay: 2, MaxRetryDelay: 1, Linger: -time.Millisecond}.Validate()
	for _, want := range []string{"duplicate projection name", "invalid projection name", "batch size", "parallel", "retry delays", "linger"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a problem mentioning %q", err, want)
		}
	}
	if _, err := NewRunner(nil, nil, Options{}); err == nil {
		t.Error("NewRunner without pool and source succeeded")
	}
	if err := (RebuildOptions{BatchSize: -1}).Validate(); err == nil {
		t.Error("RebuildOptions{BatchSize: -1} is valid")
	}
	ps, err := Lookup(All(), "relations", "staff", "relations")
	if err != nil || len(ps) != 2 || ps[0].Name() != "relations" {
		t.Errorf("Lookup = %v, %v", names(ps), err)
	}
	if ps, err := Lookup(All(), "all"); err != nil || len(ps) != len(All()) {
		t.Errorf("Lookup(all) = %v, %v", names(ps), err)
	}
	if _, err := Lookup(All(), "nope"); !errors.Is(err, ErrUnknownProjection) {
		t.Errorf("Lookup(nope) = %v", err)
	}
	// Every projection's migrations exist, and its tables are created by them.
	for _, p := range All() {
		ms := p.Migrations()
		if len(ms) == 0 {
			t.Errorf("%s has no migrations", p.Name())
		}
		all := strings.Join(ms, "\n")
		for _, tbl := range p.Tables() {
			if !strings.Contains(all, "CREATE TABLE {s}."+tbl+" (") {
				t.Errorf("%s: no CREATE TABLE for %s", p.Name(), tbl)
			}
		}
	}
}

type fakeNamed struct {
	name string
}

func (f fakeNamed) Name() string             { return f.name }
func (fakeNamed) Tables() []string           { return nil }
func (fakeNamed) Migrations() []string       { return nil }
func (fakeNamed) Apply(*Writer, Event) error { return nil }
