package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections"
)

// TestProjectionsCommand rebuilds the projections of a small log with
// `custody projections rebuild all` and reads them back with `status`, on
// the private PostgreSQL of a fresh directory.
func TestProjectionsCommand(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("DATABASE_URL", "")
	t.Setenv("CUSTODY_MASTER_KEY", "")
	t.Setenv("CUSTODY_EVENT_LOG", "")
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(logger)

	pool, cleanup, err := openPostgres(ctx, logger)
	if err != nil {
		t.Fatal(err)
	}
	log, _, closeLog, err := openEventLog(ctx, pool, logger)
	if err != nil {
		cleanup()
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i, p := range []events.Payload{
		&events.StaffJoined{StaffID: "s1", PII: events.StaffPII{Name: "Alice"}},
		&events.CustomerRelationStarted{CustomerID: "cu1", StaffID: "s1", StartedBy: events.StartedByAdd, PII: events.RelationPII{CustomerName: "Wang"}},
	} {
		e, err := events.New(uuid.New(), events.Meta{CorpID: "c1", OccurredAt: at, Actor: "system"}, p)
		if err != nil {
			t.Fatal(err)
		}
		stream := events.StaffStream("c1", "s1")
		if i == 1 {
			stream = events.CustomerStream("c1", "cu1")
		}
		if _, err := log.Append(ctx, stream, eventlog.ExpectAny, e); err != nil {
			t.Fatal(err)
		}
	}
	closeLog()
	cleanup()

	usage := func(io.Writer) {}
	if err := runProjections(ctx, nil); !errors.Is(err, errUsage) {
		t.Errorf("no arguments: %v, want usage", err)
	}
	if err := runProjectionsRebuild(ctx, []string{"nope"}, usage); !errors.Is(err, projections.ErrUnknownProjection) {
		t.Errorf("rebuild nope: %v", err)
	}
	if err := runProjectionsRebuild(ctx, []string{"all"}, usage); err != nil {
		t.Fatalf("rebuild all: %v", err)
	}
	var out bytes.Buffer
	if err := runProjectionsStatus(ctx, nil, &out, usage); err != nil {
		t.Fatalf("status: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1+len(projections.All()) {
		t.Fatalf("status output:\n%s", out.String())
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		// PROJECTION POSITION HEAD EVENTS-BEHIND ...: caught up, at the head.
		if len(f) < 4 || f[1] != f[2] || f[1] == "0/0" || f[3] != "0" {
			t.Errorf("status line %q: want caught up at a non-zero head", l)
		}
	}

	pool, cleanup, err = openPostgres(ctx, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	var name string
	var active int
	if err := pool.QueryRow(ctx, `SELECT name, active_customers FROM projections.staff WHERE corp_id = 'c1' AND staff_id = 's1'`).Scan(&name, &active); err != nil || name != "Alice" || active != 1 {
		t.Errorf("rebuilt staff row: %q %d %v", name, active, err)
	}

	// A parked corp shows in status; unpark rebuilds the projection, which
	// un-parks it since its events apply.
	if _, err := pool.Exec(ctx, `INSERT INTO projections.parked
		(projection, corp_id, commit_pos, prepare_pos, event_id, event_type, stream, reason)
		VALUES ('staff', 'c1', 7, 8, '0190c6a8-0000-7000-8000-000000000001', 'staff.joined', 'staff-c1-s1', 'SQLSTATE 22021: x')`); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runProjectionsStatus(ctx, nil, &out, usage); err != nil {
		t.Fatalf("status: %v", err)
	}
	shown := false
	for _, l := range strings.Split(out.String(), "\n") {
		f := strings.Fields(l)
		shown = shown || len(f) >= 5 && strings.Join(f[:5], " ") == "staff c1 7/8 0190c6a8-0000-7000-8000-000000000001 staff.joined"
	}
	if !shown {
		t.Errorf("status does not show the parked corp:\n%s", out.String())
	}
	out.Reset()
	if err := runProjectionsUnpark(ctx, []string{"staff", "c1"}, &out, usage); err != nil || !strings.Contains(out.String(), "un-parked") {
		t.Errorf("unpark staff c1: %v, %q", err, out.String())
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM projections.parked`).Scan(&n); err != nil || n != 0 {
		t.Errorf("parked rows after unpark: %d %v", n, err)
	}
	out.Reset()
	if err := runProjectionsUnpark(ctx, []string{"staff", "c1"}, &out, usage); err != nil || !strings.Contains(out.String(), "not parked") {
		t.Errorf("unpark of a corp not parked: %v, %q", err, out.String())
	}
}
