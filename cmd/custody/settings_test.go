package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
)

func TestSettingsCLI(t *testing.T) {
	env := newCLIEnv(t, "custody_settings", 7)
	ctx := context.Background()
	cli := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := settingsCommand(ctx, args, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	stream := func() int {
		recs, err := env.log.ReadStream(ctx, events.CorpSettingsStream("acme"), 0)
		if errors.Is(err, eventlog.ErrStreamNotFound) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}

	out, _, err := cli("get", "--corp", "acme")
	if err != nil || !strings.Contains(out, "resigned_assignment_window  365d") || !strings.Contains(out, "WeCom's defaults") {
		t.Fatalf("get of a new corp: %v\n%s", err, out)
	}
	// Bad input: a usage error naming the problem, nothing recorded.
	for _, args := range [][]string{
		{"set", "--corp", "acme", "--staff-capacity", "0"},
		{"set", "--corp", "acme", "--handover-window", "24"},
		{"set", "--corp", "acme", "--time-zone", "Nowhere/Land"},
		{"set", "--corp", "acme", "--colour", "blue"},
		{"set", "--corp", "acme"},
		{"set", "--staff-capacity", "5"},
		{"set", "--corp", "acme", "--by", "Li Na", "--staff-capacity", "5"},
	} {
		if _, _, err := cli(args...); exitCode(err) != 2 {
			t.Errorf("%v: err %v, want a usage error", args, err)
		}
	}
	if n := stream(); n != 0 {
		t.Fatalf("refused changes recorded %d events", n)
	}
	_, msg, err := cli("set", "--corp", "acme", "--by", "ops1", "--staff-capacity", "5000", "--resigned-assignment-window", "180d", "--time-zone", "Europe/Berlin")
	if err != nil || !strings.Contains(msg, "recorded corp.settings_changed") {
		t.Fatalf("set: %v %s", err, msg)
	}
	_, msg, err = cli("set", "--corp", "acme", "--staff-capacity", "5000")
	if err != nil || !strings.Contains(msg, "unchanged") || stream() != 1 {
		t.Fatalf("no-op set: %v %s, %d events", err, msg, stream())
	}
	out, _, err = cli("get", "--corp", "acme", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Settings map[string]string
		Version  int64
		History  []struct {
			By      string
			Changed []string
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Settings["staff_capacity"] != "5000" || got.Settings["resigned_assignment_window"] != "180d" ||
		got.Settings["time_zone"] != "Europe/Berlin" || got.Version != 0 || len(got.History) != 1 ||
		got.History[0].By != "cli:ops1" || strings.Join(got.History[0].Changed, ",") != "staff_capacity,resigned_assignment_window,time_zone" {
		t.Fatalf("get --json: %+v", got)
	}
	out, _, _ = cli("get", "--corp", "acme")
	if !strings.Contains(out, "cli:ops1") || !strings.Contains(strings.Join(strings.Fields(out), " "), "staff_capacity 5000 (changed) handover_window 24h in_service") {
		t.Fatalf("get:\n%s", out)
	}
}
