package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/custody/custody/projections"
)

// TestStatusNamesProjectionOwners: two runners with leases, as two
// custody serve instances run them, divide the projections; `custody
// projections status` names each projection's owner and since when, and
// /metrics's collector says which projections this instance applies and
// who owns each.
func TestStatusNamesProjectionOwners(t *testing.T) {
	env := newCLIEnv(t, "custody", 6)
	ctx := context.Background()
	var runners []*projections.Runner
	var stops []func()
	for _, name := range []string{"host-a:1", "host-b:2"} {
		r, err := projections.NewRunner(env.pool, env.log.(projections.Source), projections.Options{Logger: slog.New(slog.DiscardHandler),
			Lease: &projections.LeaseOptions{Instance: name, TTL: 500 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(rctx) }()
		runners = append(runners, r)
		stops = append(stops, func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	n := len(projections.All())
	for len(runners[0].Owned()) != (n+1)/2 || len(runners[1].Owned()) != n/2 {
		time.Sleep(10 * time.Millisecond)
	}

	var out bytes.Buffer
	if err := printProjectionsStatus(ctx, env.pool, env.log, 1000, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.HasPrefix(lines[0], "PROJECTION") || !strings.Contains(lines[0], "OWNER SINCE") {
		t.Fatalf("header %q", lines[0])
	}
	count := map[string]int{}
	for _, p := range projections.All() {
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) > 2 && f[0] == p.Name() {
				// ... PARKED CORPS, OWNER, OWNER SINCE.
				count[f[len(f)-2]]++
				if _, err := time.Parse(time.RFC3339, f[len(f)-1]); err != nil {
					t.Errorf("%s: owner since %q: %v", p.Name(), f[len(f)-1], err)
				}
			}
		}
	}
	if count["host-a:1"] != (n+1)/2 || count["host-b:2"] != n/2 {
		t.Fatalf("owners in status %v, want host-a:1 %d and host-b:2 %d:\n%s", count, (n+1)/2, n/2, out.String())
	}

	// The metrics of host-b:2's instance.
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(projectionLag{pool: env.pool, log: env.log, runner: runners[1]}); err != nil {
		t.Fatal(err)
	}
	mine := runners[1].Owned()[0].Name
	theirs := runners[0].Owned()[0].Name
	got, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// value of a family's series with the given labels; -1 when missing.
	value := func(family string, labels map[string]string) float64 {
		for _, mf := range got {
			if mf.GetName() != family {
				continue
			}
		series:
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
						continue series
					}
				}
				return m.GetGauge().GetValue()
			}
		}
		return -1
	}
	var owned, owner float64
	for _, p := range projections.All() {
		owned += value("custody_projection_owned", map[string]string{"projection": p.Name()})
		owner += value("custody_projection_owner", map[string]string{"projection": p.Name()})
	}
	if owned != float64(n/2) || owner != float64(n) {
		t.Errorf("custody_projection_owned sums to %v (want %d), custody_projection_owner to %v (want %d)", owned, n/2, owner, n)
	}
	for _, c := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"custody_projection_owned", map[string]string{"projection": mine}, 1},
		{"custody_projection_owned", map[string]string{"projection": theirs}, 0},
		{"custody_projection_owner", map[string]string{"projection": mine, "instance": "host-b:2"}, 1},
		{"custody_projection_owner", map[string]string{"projection": theirs, "instance": "host-a:1"}, 1},
	} {
		if got := value(c.family, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.family, c.labels, got, c.want)
		}
	}
	if since := value("custody_projection_owned_since_seconds", map[string]string{"projection": mine}); since < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("custody_projection_owned_since_seconds of %s = %v", mine, since)
	}
}

// TestStatusNamesPartitionOwners: two runners applying the fold
// projections in 2 partitions divide the partitions; `custody projections
// status` names, for each fold projection, the instances applying its
// partitions with their share, and /metrics says that this instance
// applies a partitioned projection when it owns a partition of it and
// lists every instance applying one.
func TestStatusNamesPartitionOwners(t *testing.T) {
	env := newCLIEnv(t, "custody", 6)
	ctx := context.Background()
	var runners []*projections.Runner
	for _, name := range []string{"host-a:1", "host-b:2"} {
		r, err := projections.NewRunner(env.pool, env.log.(projections.Source), projections.Options{Logger: slog.New(slog.DiscardHandler),
			Partitions: 2, Lease: &projections.LeaseOptions{Instance: name, TTL: 500 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(rctx) }()
		runners = append(runners, r)
		defer func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	// 8 fold projections in 2 partitions and 3 others applied whole,
	// weighing 2 partitions each: 19 units, 22 partitions' worth, about 11
	// each. Who applies relations' partitions 0 and 1, when the division
	// holds still while the status is printed.
	weight := func(r *projections.Runner) (n, w int) {
		for _, o := range r.Owned() {
			n++
			w++
			if projections.ProjectionOf(o.Name) == o.Name {
				w++
			}
		}
		return n, w
	}
	owners := func() map[string]string {
		by := map[string]string{}
		for i, r := range runners {
			for _, o := range r.Owned() {
				by[o.Name] = []string{"host-a:1", "host-b:2"}[i]
			}
		}
		return by
	}
	var p0, p1 string
	var out bytes.Buffer
	for {
		na, wa := weight(runners[0])
		nb, wb := weight(runners[1])
		if na+nb != 19 || wa < 10 || wb < 10 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		before := owners()
		out.Reset()
		if err := printProjectionsStatus(ctx, env.pool, env.log, 1000, &out); err != nil {
			t.Fatal(err)
		}
		if after := owners(); len(after) == 19 && maps.Equal(before, after) {
			p0, p1 = after["relations#0/2"], after["relations#1/2"]
			break
		}
	}
	wantOwners := p0 + "(1/2)," + p1 + "(1/2)"
	if p0 == p1 {
		wantOwners = p0 + "(2/2)"
	}
	shared := 0
	for _, l := range strings.Split(out.String(), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "relations" {
			continue
		}
		if f[len(f)-2] != wantOwners {
			t.Errorf("relations' owners %q, want %q", f[len(f)-2], wantOwners)
		}
		if _, err := time.Parse(time.RFC3339, f[len(f)-1]); err != nil {
			t.Errorf("relations: owner since %q: %v", f[len(f)-1], err)
		}
		shared++
	}
	if shared != 1 {
		t.Fatalf("no line for relations:\n%s", out.String())
	}

	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(projectionLag{pool: env.pool, log: env.log, runner: runners[1]}); err != nil {
		t.Fatal(err)
	}
	got, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]float64{}
	for _, mf := range got {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, lp := range m.GetLabel() {
				key += " " + lp.GetName() + "=" + lp.GetValue()
			}
			series[key] = m.GetGauge().GetValue()
		}
	}
	mineToo := 0.0
	if p0 == "host-b:2" || p1 == "host-b:2" {
		mineToo = 1
	}
	for key, want := range map[string]float64{
		"custody_projection_owned projection=relations":                                               mineToo,
		"custody_projection_owner instance=" + p0 + " projection=relations":                           1,
		"custody_projection_owner instance=" + p1 + " projection=relations":                           1,
		"custody_projection_owned projection=" + projections.ProjectionOf(runners[1].Owned()[0].Name): 1,
	} {
		if series[key] != want {
			t.Errorf("%s = %v, want %v", key, series[key], want)
		}
	}
}
