package standin

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/payload"
)

func dayOptions(seed uint64) DayOptions {
	return DayOptions{Corp: Options{CorpID: testCorpID, Token: testToken, EncodingAESKey: testAESKey}, Seed: seed}
}

func TestDayIsDeterministic(t *testing.T) {
	c1, cbs1, err := Day(dayOptions(7))
	if err != nil {
		t.Fatal(err)
	}
	c2, cbs2, err := Day(dayOptions(7))
	if err != nil {
		t.Fatal(err)
	}
	if len(cbs1) < DefaultDayEvents || len(cbs1) > DefaultDayEvents+1 {
		t.Errorf("%d callbacks, want %d", len(cbs1), DefaultDayEvents)
	}
	if !reflect.DeepEqual(cbs1, cbs2) {
		t.Error("same seed, different callbacks")
	}
	if !reflect.DeepEqual(c1.Snapshot(), c2.Snapshot()) {
		t.Error("same seed, different state")
	}
	_, cbs3, err := Day(dayOptions(8))
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(cbs1, cbs3) {
		t.Error("another seed, same callbacks")
	}
}

// TestDayIsRealistic: the day runs from 08:30 to 22:30 in Shanghai, in
// order, and shows what a corp's day shows.
func TestDayIsRealistic(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		o := dayOptions(seed)
		o.Date = time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC)
		c, cbs, err := Day(o)
		if err != nil {
			t.Fatal(err)
		}
		from := time.Date(2026, 5, 20, 8, 30, 0, 0, Shanghai)
		to := time.Date(2026, 5, 20, 22, 30, 0, 0, Shanghai)
		kinds := map[string]int{}
		states := map[string]bool{}
		var last time.Time
		for i, cb := range cbs {
			if cb.CreateTime.Before(from) || cb.CreateTime.After(to) || cb.CreateTime.Before(last) {
				t.Fatalf("seed %d: callback %d at %v (previous %v)", seed, i, cb.CreateTime, last)
			}
			last = cb.CreateTime
			kinds[cb.Kind()]++
			states[cb.Value("State")] = true
			ev, err := payload.Parse(cb.XML(Dialect{}))
			if err != nil || ev.Kind() != cb.Kind() || ev.Validate() != nil {
				t.Fatalf("seed %d: callback %d: %v", seed, i, err)
			}
		}
		if last.Sub(cbs[0].CreateTime) < 10*time.Hour {
			t.Errorf("seed %d: the day spans only %v", seed, last.Sub(cbs[0].CreateTime))
		}
		for _, k := range []string{
			"change_external_contact/add_external_contact",
			"change_external_contact/edit_external_contact",
			"change_external_contact/del_follow_user",
			"change_external_contact/del_external_contact",
			"change_external_chat/create",
			"change_external_chat/update/add_member",
			"change_external_chat/update/del_member",
			"change_external_chat/update/change_name",
			"change_external_chat/update/change_owner",
			"change_external_tag/create",
		} {
			if kinds[k] == 0 {
				t.Errorf("seed %d: no %s in %v", seed, k, kinds)
			}
		}
		if !states["expo2026"] && !states["wechat-ad"] {
			t.Errorf("seed %d: no channel codes: %v", seed, states)
		}
		s := c.Snapshot()
		if len(s.Staff) != len(dayStaff) || s.Staff[0].Name == "" {
			t.Errorf("seed %d: staff %v", seed, len(s.Staff))
		}
		var churned int
		for _, f := range s.Follows {
			if f.DeletedBy == DeletedByCustomer {
				churned++
			}
		}
		if churned != kinds["change_external_contact/del_follow_user"] {
			t.Errorf("seed %d: %d relations ended by customers, %d del_follow_user", seed, churned, kinds["change_external_contact/del_follow_user"])
		}
	}
}

func TestDayOptionsValidate(t *testing.T) {
	for _, n := range []int{-1, MaxDayEvents + 1} {
		o := dayOptions(1)
		o.Events = n
		if _, _, err := Day(o); !errors.Is(err, ErrInvalid) {
			t.Errorf("events %d: %v, want ErrInvalid", n, err)
		}
	}
	o := dayOptions(1)
	o.Corp.EncodingAESKey = "short"
	if _, _, err := Day(o); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad key: %v, want ErrInvalid", err)
	}
}

// TestSimulate delivers a day with every habit on to a receiver that
// opens and parses each callback as custody does.
func TestSimulate(t *testing.T) {
	rc := newReceiver(t)
	o := SimulateOptions{
		Day:     dayOptions(3),
		Emitter: EmitterOptions{URL: rc.srv.URL, Corp: "acme", Habits: Habits{Lose: 0.1, Duplicate: 0.2, Concurrent: 0.5, Reseal: 0.5, Quirk: 0.3}},
		Verify:  true,
	}
	o.Day.Events = 120
	var seen int
	o.OnDelivery = func(i int, _ Callback, _ Delivery) {
		if i != seen {
			t.Errorf("OnDelivery %d, want %d", i, seen)
		}
		seen++
	}
	res, err := Simulate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(res.Callbacks) || len(res.Deliveries) != len(res.Callbacks) {
		t.Fatalf("%d deliveries, %d reported, %d callbacks", len(res.Deliveries), seen, len(res.Callbacks))
	}
	want := map[string]bool{}
	var lost, dups int
	for i, d := range res.Deliveries {
		if d.Lost() {
			lost++
			continue
		}
		if d.Duplicated {
			dups++
		}
		ev, err := payload.Parse(res.Callbacks[i].XML(d.Dialect))
		if err != nil {
			t.Fatal(err)
		}
		want[ev.DedupKey()] = true
	}
	got := rc.opened()
	keys := map[string]bool{}
	for _, r := range got {
		keys[r.event.DedupKey()] = true
	}
	for k := range want {
		if !keys[k] {
			t.Error("an answered callback did not arrive")
		}
	}
	s := res.Stats
	if s.Sent != len(got) || s.Lost != lost || s.Dropped == 0 || s.Duplicated == 0 || s.Quirked == 0 || s.Callbacks != len(res.Callbacks) {
		t.Errorf("stats %+v; %d requests, %d lost", s, len(got), lost)
	}
	if len(got) < len(want)+dups {
		t.Errorf("%d requests for %d callbacks and %d duplicates", len(got), len(want), dups)
	}

	// With the envelope clock fixed too, the same seed sends the same
	// envelopes.
	rc2 := newReceiver(t)
	o.Emitter.URL = rc2.srv.URL
	o.OnDelivery = nil
	o.Emitter.Now = func() time.Time { return time.Unix(1_780_000_000, 0) }
	res1, err := Simulate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	res2, err := Simulate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res1.Deliveries, res2.Deliveries) || res1.Stats != res2.Stats {
		t.Error("same seed, different deliveries")
	}
	got2 := rc2.opened()
	half := len(got2) / 2
	first, second := map[string]bool{}, map[string]bool{}
	for _, r := range got2[:half] {
		first[string(r.body)] = true
	}
	for _, r := range got2[half:] {
		second[string(r.body)] = true
	}
	if len(got2)%2 != 0 || !reflect.DeepEqual(first, second) {
		t.Error("same seed and clock, different envelopes")
	}
}
