package main

import (
	"github.com/custody/custody/adapters/driving/httpapi"
	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/adapters/driving/wecom/outbound"
	"github.com/custody/custody/adapters/eventlog/pgstore"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/pg/logbinding"
	"github.com/custody/custody/adapters/pg/pgcheckpoint"
	"github.com/custody/custody/adapters/tools/erasure"
	"github.com/custody/custody/adapters/tools/importer"
	"github.com/custody/custody/internal/pgmigrate"
	"github.com/custody/custody/projections"
)

// The composition root: every subcommand, event-log opener and database
// migration of the custody binary is listed in this file and nowhere else.
// Nothing registers itself from init; a newcomer reads here what the binary
// is made of (CONTRIBUTING.md).

// subcommandTable is every verb of the custody binary, in the order usage
// lists them. A new subcommand is a file <verb>.go with a func
// run<Verb>(ctx, args) error, added to this list.
func subcommandTable() []subcommand {
	return []subcommand{
		{name: "asof", summary: "as-of questions: owners of a customer, a staff member's customers, a corp's numbers at a time", run: runAsOf},
		{name: "bench", summary: "measure HTTP command throughput against one-row INSERT transactions on the same PostgreSQL, in alternating rounds", run: runBench},
		{name: "demo", summary: "seed a realistic corp through the API of a running server", run: runDemo},
		{name: "erasure", summary: "verify that an erased subject left no personal data; scrub and rewrite the copies", run: runErasure},
		{name: "events", summary: "export the event log (JSON Lines, CSV, Parquet)", run: runEvents},
		{name: "import", summary: "bulk onboarding: import a corp's staff, relations and groups from a JSONL file (docs/import.md)", run: runImport},
		{name: "log", summary: "event log tools: 'log copy --to URL' copies the whole log to another event log; 'log rebind' moves custody to the log it runs on now", run: runLog},
		{name: "migrate", summary: "create or update every PostgreSQL table custody uses", run: runMigrate},
		{name: "projections", summary: "projection status (position, head, lag, parked corps), 'projections rebuild NAME|all' or 'projections unpark NAME CORP'", run: runProjections},
		{name: "psql", summary: "open psql on custody's database (the private PostgreSQL or DATABASE_URL)", run: runPsql},
		{name: "replay", summary: "build every projection as of a time into a separate schema (or drop/list them)", run: runReplay},
		{name: "serve", summary: "run the HTTP API, WeCom callback receiver, projector, settle job, slot keeper and in-process fan-out in one process", run: runServe},
		{name: "settings", summary: "show or change a corp's settings (capacity, handover windows, time zone, ...) and their audit trail", run: runSettings},
		{name: "slots", summary: "repair staff capacity slots that drifted from the customers' relations and handovers", run: runSlots},
		{name: "status", summary: "who does what: each projection's position and lag, each relay route's owner instance, since when, and its checkpoint", run: runStatus},
		{name: "subscribe", summary: "tail a broker topic the relay publishes to and print its events", run: runSubscribe},
		{name: "timeline", summary: "a customer's history: adds, channels, handovers and outcomes, opt-outs, groups, consents, erasure", run: runTimeline},
		{name: "tokens", summary: "create, list or revoke API tokens bound to one corp", run: runTokens},
		{name: "wecom", summary: "connect a corp to WeCom, list connections, inspect the callback inbox", run: runWeCom},
	}
}

// eventLogOpeners open event logs other than PostgreSQL, by the URL scheme
// of CUSTODY_EVENT_LOG. The keyring is shared: personal data is sealed the
// same way whatever the log, with its keys in PostgreSQL.
var eventLogOpeners = map[string]eventLogOpener{
	"kurrentdb":          openKurrent,
	"kurrentdb+discover": openKurrent,
	"esdb":               openKurrent,
	"esdb+discover":      openKurrent,
}

// migrationComponents is every component's migrations, in the order they
// run: the keyring's and the event log's first, then the components that
// build on them. pgmigrate applies them all in one transaction; a new
// component with tables is added here (CONTRIBUTING.md).
func migrationComponents() ([]pgmigrate.Component, error) {
	projs, err := projections.Migrations(projections.All()...)
	if err != nil {
		return nil, err
	}
	var cs []pgmigrate.Component
	cs = append(cs, pii.Migrations(), pgstore.Migrations())
	cs = append(cs, projs...)
	cs = append(cs,
		httpapi.Migrations(),
		pgcheckpoint.Migrations(),
		logbinding.Migrations(),
		relay.Migrations(),
		erasure.Migrations(),
		connection.Migrations(),
		inbox.Migrations(),
		outbound.Migrations(),
		importer.Migrations(),
	)
	return cs, nil
}
