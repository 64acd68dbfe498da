package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/custody/custody/adapters/tools/erasure"
	"github.com/custody/custody/adapters/tools/timeline"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
)

// TestErasureCommands erases a customer as an operator would, with a
// replay built before the erasure, then runs the privacy officer's check:
// custody erasure verify reports the pending rewrite only, and nothing
// after custody erasure rewrite. Timeline, as-of and the replay still
// answer for the customer, without its personal data.
func TestErasureCommands(t *testing.T) {
	ctx := context.Background()
	env := newCLIEnv(t, "erasure", 9)
	pool, log, eraser := env.pool, env.log, env.eraser
	logger := slog.New(slog.DiscardHandler)
	cmds, err := commands.New(commands.Options{Log: log, Eraser: eraser, Settings: commands.DefaultSettings{}})
	if err != nil {
		t.Fatal(err)
	}
	name, remark, phone := "Ouyang Xiaoqian", "met-at-the-lantern-fair", "+86 137 0000 4242"
	m := commands.Meta{CorpID: "acme", OccurredAt: time.Now().Add(-48 * time.Hour)}
	ok := func(_ commands.Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ok(cmds.JoinStaff(ctx, commands.JoinStaff{Meta: m, StaffID: "alice"}))
	ok(cmds.StartRelation(ctx, commands.StartRelation{Meta: m, CustomerID: "wm_42", StaffID: "alice",
		Initiator: events.InitiatorCustomer, CustomerName: name, Remark: remark, Phones: []string{phone}}))

	var out, errOut bytes.Buffer
	if err := replayCmd(ctx, []string{"--until", time.Now().Format(time.RFC3339), "--schema", "before", "--progress=false"}, &out, &errOut); err != nil {
		t.Fatalf("replay: %v: %s", err, errOut.String())
	}
	out.Reset()
	err = erasureCmd(ctx, []string{"verify", "customer/acme/wm_42"}, &out, &errOut)
	if !errors.Is(err, errFindings) || !strings.Contains(out.String(), "key         present") {
		t.Fatalf("verify before the erasure: %v\n%s", err, out.String())
	}

	ok(cmds.EraseCustomer(ctx, commands.EraseCustomer{Meta: commands.Meta{CorpID: "acme"}, CustomerID: "wm_42"}))
	if err := asofCatchUp(ctx, pool, logger); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = erasureCmd(ctx, []string{"verify", "--json", "--value", name, "--value", remark, "--value", phone, "customer/acme/wm_42"}, &out, &errOut)
	var rep erasure.Report
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		t.Fatalf("verify --json: %v: %s", jerr, out.String())
	}
	if !errors.Is(err, errFindings) || len(rep.Findings) != 1 || rep.Findings[0].Kind != erasure.KindRewrite || rep.Values != 3 {
		t.Fatalf("after the erasure only the rewrite may be pending: %v %+v", err, rep)
	}
	if err := erasureCmd(ctx, []string{"rewrite"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := erasureCmd(ctx, []string{"verify", "--value", name, "--value", remark, "customer/acme/wm_42"}, &out, &errOut); err != nil {
		t.Fatalf("verify after the rewrite: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "findings    none") || !strings.Contains(out.String(), "replay      before") {
		t.Fatalf("verify report:\n%s", out.String())
	}
	if strings.Contains(out.String(), name) || strings.Contains(out.String(), remark) {
		t.Fatal("the report shows the values it searched for")
	}

	// Still answered, pseudonymously.
	out.Reset()
	if err := showTimeline(ctx, []string{"--corp", "acme", "--json", "wm_42"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var tl timeline.Timeline
	if err := json.Unmarshal(out.Bytes(), &tl); err != nil || len(tl.Entries) < 2 {
		t.Fatalf("timeline of the erased customer: %v: %s", err, out.String())
	}
	out.Reset()
	if err := asOf(ctx, []string{"owners", "--corp", "acme", "--at", time.Now().Add(-time.Hour).Format(time.RFC3339), "wm_42"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "alice") {
		t.Fatalf("asof owners of the erased customer:\n%s", out.String())
	}
	var replayed, erased string
	err = pool.QueryRow(ctx, `SELECT r.staff_id, c.erased::text FROM before.relations r JOIN before.customers c USING (corp_id, customer_id)
		WHERE r.corp_id = 'acme' AND r.customer_id = 'wm_42' AND r.customer_name = '' AND r.remark = '' AND r.phones = '{}'`).Scan(&replayed, &erased)
	if err != nil || replayed != "alice" || erased != "false" {
		t.Fatalf("the replay must still show the relation, blank, as not yet erased at its time: %q %q %v", replayed, erased, err)
	}
	for _, s := range []string{name, remark, phone} {
		if strings.Contains(out.String(), s) {
			t.Fatalf("as-of shows %q", s)
		}
	}
}
