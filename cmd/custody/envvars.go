package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/projections"
)

// envVar is one environment variable custody reads. The README's
// configuration table is this list (TestREADMEConfigurationTable).
type envVar struct {
	name string
	// flag is the flag overriding it, if any ("-addr").
	flag string
	// def is the value used when the variable is unset or empty, as the
	// code reads it; "" when the default is computed (docDefault says how).
	def        string
	docDefault string
	meaning    string
	// check validates a set value; its error says what the variable accepts.
	check func(v string) error
}

// envVars lists every variable cmd/custody reads. checkEnvironment parses
// each one that is set before any subcommand runs: a bad value stops
// custody with an error naming the variable and what it accepts, never a
// silent fallback to the default.
var envVars = []envVar{
	{name: "CUSTODY_HTTP_ADDR", flag: "-addr", def: ":8080", meaning: "listen address", check: checkAddr},
	{name: "DATABASE_URL", docDefault: "private PostgreSQL under `./.data/pg`", meaning: "PostgreSQL for the event log, projections, tokens; may set `pool_max_conns` (default 16)", check: checkPostgresURL},
	{name: "CUSTODY_MASTER_KEY", docDefault: "dev key in `./.data/master.key`", meaning: "base64 of 32 bytes; wraps the per-customer data keys", check: checkMasterKey},
	{name: "CUSTODY_ADMIN_TOKEN", docDefault: "generated into `./.data/admin-token`", meaning: "admin bearer token (all corps), ≥ 16 characters", check: checkAdminToken},
	{name: "CUSTODY_ADMIN_TOKEN_FILE", flag: "-admin-token-file", def: adminTokenFile, meaning: "where the generated admin token is kept", check: checkText},
	{name: "CUSTODY_EVENT_LOG", def: "postgres", meaning: "event log: `postgres`, a `postgres://` URL, or `kurrentdb://…`", check: checkEventLog},
	{name: "CUSTODY_KURRENTDB_NAMESPACE", docDefault: "none", meaning: "prefix of every stream name on a KurrentDB server shared by several deployments", check: checkText},
	{name: "CUSTODY_RELAY_ROUTES", flag: "-relay-routes", docDefault: "none", meaning: "extra fan-out routes besides the in-process one: `NAME=URL` separated by spaces or `;`, e.g. `nats=nats://127.0.0.1:4222 rabbit=amqp://guest:guest@127.0.0.1:5672/`; routing options ride on the URL: `?prefix=crm&topics=handover:crm.ho,*:crm.all&corps=a,b&types=handover.*&pii=true` ([docs/consumers.md](docs/consumers.md#topics))", check: checkRelayRoutes},
	{name: "CUSTODY_ERASURE_REWRITE_AFTER", flag: "-erasure-rewrite-after", def: "1h", meaning: "how long after an erasure the tables holding personal data are rewritten at the latest ([docs/erasure.md](docs/erasure.md))", check: checkPositiveDuration},
	{name: "CUSTODY_INSTANCE", docDefault: "`host:pid`", meaning: "`custody serve`: this instance's name in the projection and relay owner tables, `custody status` and `/metrics`; unique per instance", check: checkText},
	{name: "CUSTODY_PROJECTION_LEASE", def: "5s", meaning: "`custody serve` instances divide the projections; one that stops heartbeating (every fifth of this) keeps its projections this long before the others take them over (one stopping releases them at once); at least `100ms`", check: checkLease},
	{name: "CUSTODY_PROJECTION_PARTITIONS", def: strconv.Itoa(defaultPartitions), meaning: "`custody serve`: each projection that is a fold (all but tags, wecom_unmatched and outreach) is applied in this many partitions (by key), which instances divide like projections, so that several instances apply one projection together (1–64, e.g. `6` for up to 3 instances; `1` applies each projection whole); the same on every instance — a change re-divides the projections at the next start, no rebuild needed", check: checkPartitions},
	{name: "CUSTODY_PROJECTION_LINGER", def: "50ms", meaning: "`custody serve`: how long the projector waits for more events to join a live batch before applying it: read models lag up to this much more, and under load each event costs the database less; `0s` applies what has arrived at once; at most `5s`", check: checkLinger},
	{name: "CUSTODY_SETTLE_EVERY", flag: "-settle-every", def: "1m", meaning: "period of the handover settle job (24-hour rule)", check: checkPositiveDuration},
	{name: "CUSTODY_SHUTDOWN_TIMEOUT", flag: "-shutdown-timeout", def: "30s", meaning: "how long in-flight requests may finish on SIGTERM/SIGINT", check: checkPositiveDuration},
	{name: "CUSTODY_IDEMPOTENCY_RETENTION", flag: "-idempotency-retention", def: "168h", meaning: "how long answers to `Idempotency-Key` requests are kept for replay", check: checkPositiveDuration},
	{name: "CUSTODY_WECOM_RECONCILE_EVERY", def: "24h", meaning: "period of the reconciliation with WeCom's API of connected corps; `0s` turns it off", check: checkNonNegativeDuration},
	{name: "CUSTODY_WECOM_MASS_REPORT_EVERY", def: "1h", meaning: "period of polling connected corps' mass-message results (`add_msg_template` sends) into outreach facts; `0s` turns it off ([docs/marketing.md](docs/marketing.md))", check: checkNonNegativeDuration},
	{name: "CUSTODY_WECOM_API_URL", flag: "-api-url", def: "https://qyapi.weixin.qq.com", meaning: "WeCom's API host (`custody wecom reconcile`; a stand-in's URL for a demo)", check: checkHTTPURL},
	{name: "CUSTODY_LOG_LEVEL", def: "info", meaning: "slog level: `debug`, `info`, `warn` or `error`", check: checkLogLevel},
	{name: "CUSTODY_LOG_FORMAT", def: "text", meaning: "slog format: `text` or `json`", check: checkLogFormat},
	{name: "CUSTODY_WECOM_TOKEN", docDefault: "none", meaning: "read by `custody wecom connect` only: the callback Token of the corp being connected (stored sealed; see [docs/wecom.md](docs/wecom.md))", check: checkText},
	{name: "CUSTODY_WECOM_AES_KEY", docDefault: "none", meaning: "read by `custody wecom connect` only: the callback EncodingAESKey", check: checkText},
	{name: "CUSTODY_WECOM_SECRET", docDefault: "none", meaning: "read by `custody wecom connect` and `reconcile` only: the corp's app secret", check: checkText},
	{name: "CUSTODY_URL", flag: "-url", def: "http://localhost:8080", meaning: "`custody demo`: base URL of the running server", check: checkHTTPURL},
	{name: "CUSTODY_TOKEN", flag: "-token", docDefault: "the admin token file", meaning: "`custody demo`: bearer token for the corp, or the admin token", check: checkText},
	{name: "CUSTODY_STAFF_BATCH", def: strconv.Itoa(commands.DefaultStaffBatch), meaning: "`custody serve`: how many concurrent decisions on one staff member's stream (slot reservations of adds and handovers) one append carries at most (1–10000); `1` appends each on its own", check: checkStaffBatch},
	{name: "CUSTODY_CPUPROFILE", docDefault: "none", meaning: "`custody serve`: path prefix of CPU profiles taken between SIGUSR1 and SIGUSR2 (used by `custody bench`)", check: checkText},
	{name: "PG_BINDIR", docDefault: "found on the machine", meaning: "directory of PostgreSQL's server binaries for the private server", check: checkDir},
}

// envDefault returns the code default of the listed variable name.
func envDefault(name string) string {
	for _, v := range envVars {
		if v.name == name {
			return v.def
		}
	}
	panic("custody: " + name + " is not in envVars")
}

// env returns the listed variable name, or its default when unset or
// empty. checkEnvironment has validated it.
func env(name string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return envDefault(name)
}

// envDurationOf returns a duration variable; checkEnvironment has
// validated it, so a parse error here is a programming mistake.
func envDurationOf(name string) time.Duration {
	d, err := time.ParseDuration(env(name))
	if err != nil {
		panic(fmt.Sprintf("custody: %s: %v (checkEnvironment missed it)", name, err))
	}
	return d
}

// checkEnvironment parses every set variable of envVars and reports each
// bad one, naming it and what it accepts, joined. Values are never
// echoed: some are secrets. An unknown CUSTODY_* variable (a typo) is
// logged as a warning.
func checkEnvironment(logger *slog.Logger) error {
	var errs []error
	known := map[string]bool{}
	for _, v := range envVars {
		known[v.name] = true
		val, set := os.LookupEnv(v.name)
		if !set || val == "" {
			continue
		}
		if err := v.check(val); err != nil {
			if !strings.HasPrefix(err.Error(), v.name) {
				err = fmt.Errorf("environment variable %s: %w", v.name, err)
			}
			errs = append(errs, err)
		}
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "CUSTODY_") && !known[name] && !strings.HasPrefix(name, "CUSTODY_BENCH_") && !strings.HasPrefix(name, "CUSTODY_TEST_") {
			logger.Warn("unknown environment variable ignored (see README.md, Configuration)", "name", name)
		}
	}
	return errors.Join(errs...)
}

// maxStaffBatch bounds CUSTODY_STAFF_BATCH: one append of more events
// than this gains nothing and makes one failed append cost more.
const maxStaffBatch = 10000

// defaultPartitions is CUSTODY_PROJECTION_PARTITIONS's default: each
// projection whole. Partitions gained nothing measurable on a 2-core
// machine shared by the instances and PostgreSQL (BENCHMARKS.md,
// "Partitions within a projection"); 6 divides evenly among 1, 2 or 3
// instances.
const defaultPartitions = 1

func checkPartitions(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > projections.MaxPartitions {
		return fmt.Errorf("want a whole number from 1 to %d", projections.MaxPartitions)
	}
	return nil
}

func checkStaffBatch(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxStaffBatch {
		return fmt.Errorf("want a whole number from 1 to %d", maxStaffBatch)
	}
	return nil
}

// envIntOf returns a whole-number variable; checkEnvironment has validated
// it.
func envIntOf(name string) int {
	n, err := strconv.Atoi(env(name))
	if err != nil {
		panic(fmt.Sprintf("custody: %s: %v (checkEnvironment missed it)", name, err))
	}
	return n
}

func checkPositiveDuration(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return errors.New("want a positive duration with a unit, e.g. 30s, 5m, 1h")
	}
	return nil
}

func checkLease(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 100*time.Millisecond {
		return errors.New("want a duration of at least 100ms with a unit, e.g. 5s")
	}
	return nil
}

// maxLinger bounds CUSTODY_PROJECTION_LINGER: a longer wait only adds
// lag; batches of a few hundred milliseconds already share their
// statements among hundreds of events under load.
const maxLinger = 5 * time.Second

func checkLinger(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxLinger {
		return errors.New("want a duration with a unit from 0s to 5s, e.g. 50ms")
	}
	return nil
}

func checkNonNegativeDuration(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return errors.New("want a duration with a unit, e.g. 30m, 24h, or 0s for off")
	}
	return nil
}

func checkLogLevel(v string) error {
	switch strings.ToLower(v) {
	case "debug", "info", "warn", "error":
		return nil
	}
	return errors.New("want debug, info, warn or error")
}

func checkLogFormat(v string) error {
	switch strings.ToLower(v) {
	case "text", "json":
		return nil
	}
	return errors.New("want text or json")
}

func checkAddr(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err == nil {
		n, perr := strconv.ParseUint(port, 10, 16)
		if perr == nil && (port == "0" || n > 0) && checkText(host) == nil {
			return nil
		}
	}
	return errors.New("want HOST:PORT or :PORT, e.g. :8080 or 127.0.0.1:8080")
}

func checkPostgresURL(v string) error {
	// pgx also takes the key=value form (host=... dbname=...).
	if _, err := pgxpool.ParseConfig(v); err != nil {
		return errors.New("want a PostgreSQL URL postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?pool_max_conns=N&...] or key=value settings")
	}
	return nil
}

func checkEventLog(v string) error {
	if v == "postgres" {
		return nil
	}
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok || scheme == "" || rest == "" {
		return fmt.Errorf("want \"postgres\" or a URL (%s)", knownSchemes())
	}
	if scheme == "postgres" || scheme == "postgresql" {
		return checkPostgresURL(v)
	}
	if _, ok := eventLogOpeners[scheme]; !ok {
		return fmt.Errorf("unknown scheme %q (%s)", scheme, knownSchemes())
	}
	return nil
}

func checkMasterKey(v string) error {
	if _, err := pii.ParseMasterKey(v); err != nil {
		return fmt.Errorf("want base64 of %d random bytes (openssl rand -base64 32)", pii.KeySize)
	}
	return nil
}

func checkAdminToken(v string) error {
	if len(v) < 16 || strings.ContainsFunc(v, unicode.IsSpace) || checkText(v) != nil {
		return errors.New("want at least 16 characters without spaces or control characters")
	}
	return nil
}

// checkText refuses control characters and invalid UTF-8.
func checkText(v string) error {
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return errors.New("want valid UTF-8 text without control characters")
	}
	return nil
}

func checkHTTPURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http:// or https:// URL")
	}
	return nil
}

func checkRelayRoutes(v string) error {
	_, err := parseRelayRoutes(v)
	return err
}

func checkDir(v string) error {
	fi, err := os.Stat(v)
	if err != nil || !fi.IsDir() {
		return errors.New("want an existing directory")
	}
	return nil
}
