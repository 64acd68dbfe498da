package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/adapters/pg/logbinding"
	"github.com/custody/custody/adapters/pg/pgcheckpoint"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections"
)

// logIdentity is the configured event log's identity.
func logIdentity(ctx context.Context, log eventlog.EventLog) (eventlog.Identity, error) {
	idr, ok := log.(eventlog.Identifier)
	if !ok {
		return eventlog.Identity{}, fmt.Errorf("the event log (%T) cannot name itself (eventlog.Identifier)", log)
	}
	id, err := idr.Identity(ctx)
	if err != nil {
		return eventlog.Identity{}, fmt.Errorf("event log identity: %w", err)
	}
	return id, nil
}

// logRebind moves every position kept in the database to the configured
// event log and binds the database to it: after custody log copy and a
// change of CUSTODY_EVENT_LOG, serve refuses to start until this ran.
func logRebind(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("log rebind", flag.ContinueOnError)
	fs.SetOutput(stderr)
	relayFrom := fs.String("relay-from", "", "where the relay routes continue in the new log (required): \"start\" republishes every event (consumers deduplicate by event id), \"head\" publishes only events appended from now on")
	batch := fs.Int("batch", 5000, "events per shadow transaction of the projection rebuild")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: custody log rebind -relay-from start|head

Binds custody's database to the event log CUSTODY_EVENT_LOG names now, after
a switch to another log (custody log copy, then a new CUSTODY_EVENT_LOG):
positions are each log's own, so custody serve refuses to start on a
database whose positions came from another log. Stop every custody serve
first. rebind then
  1. rebuilds every projection from the new log (fresh),
  2. moves every relay route to the new log's start or head (-relay-from),
  3. moves the followers (slot keeper) to the new log's head: their work
     is in the copied events already,
  4. records the new log as the database's log.
It refuses while a relay route is held by a running instance. Running it
again when the database is bound to this log already changes nothing.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 || (*relayFrom != "start" && *relayFrom != "head") {
		fs.Usage()
		return fmt.Errorf("%w: -relay-from must be \"start\" or \"head\", got %q", errUsage, *relayFrom)
	}
	logger := slog.Default()
	pool, log, closeAll, err := openPostgresAndLog(ctx, logger)
	if err != nil {
		return err
	}
	defer closeAll()
	if err := migrateAll(ctx, pool); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	id, err := logIdentity(ctx, log)
	if err != nil {
		return err
	}
	cur, bound, err := logbinding.Current(ctx, pool)
	if err != nil {
		return err
	}
	if bound && cur.Log == id {
		fmt.Fprintf(stdout, "already bound to %s since %s: nothing to do\n", id, cur.BoundAt.UTC().Format("2006-01-02 15:04:05Z"))
		return nil
	}
	if err := rebuildProjections(ctx, pool, log, projections.All(), projections.RebuildOptions{BatchSize: *batch, Fresh: true, SwitchedLog: true, Logger: logger}); err != nil {
		return err
	}
	head, err := log.Head(ctx)
	if err != nil {
		return fmt.Errorf("head of the new log: %w", err)
	}
	relayPos := events.Start
	if *relayFrom == "head" {
		relayPos = head
	}
	routes, err := relay.MoveCheckpoints(ctx, pool, relayPos)
	if err != nil {
		return err
	}
	followers, err := pgcheckpoint.MoveAll(ctx, pool, head)
	if err != nil {
		return err
	}
	if err := logbinding.Bind(ctx, pool, id, "custody log rebind -relay-from "+*relayFrom); err != nil {
		return err
	}
	was := "nothing (a new database)"
	if bound {
		was = cur.Log.String()
	}
	fmt.Fprintf(stdout, "bound to %s (was %s): projections rebuilt, %d relay route(s) moved to %s (%s), %d follower(s) moved to the head %s\n",
		id, was, routes, *relayFrom, relayPos, followers, head)
	return nil
}
