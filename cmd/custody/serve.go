package main

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/custody/custody/adapters/driving/console"
	"github.com/custody/custody/adapters/driving/httpapi"
	"github.com/custody/custody/adapters/driving/jobs"
	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/inbox"
	"github.com/custody/custody/adapters/driving/wecom/ingest"
	"github.com/custody/custody/adapters/driving/wecom/outbound"
	"github.com/custody/custody/adapters/driving/wecom/receiver"
	"github.com/custody/custody/adapters/eventlog/instrumented"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/adapters/pg/logbinding"
	"github.com/custody/custody/adapters/pg/pgcheckpoint"
	"github.com/custody/custody/adapters/tools/erasure"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections"
	"github.com/custody/custody/projections/pending"
)

// serving, when set (by tests), is told the address serve listens on once
// it accepts requests.
var serving func(addr net.Addr)

// adminTokenFile is where serve keeps the admin token it generated when
// CUSTODY_ADMIN_TOKEN is unset.
const adminTokenFile = "./.data/admin-token"

// serveConfig is serve's configuration: flags, defaulting to CUSTODY_*
// environment variables.
type serveConfig struct {
	addr            string
	adminToken      string
	adminTokenFile  string
	relayRoutes     string
	settleEvery     time.Duration
	shutdownTimeout time.Duration
	maxBody         int64
	keyRetention    time.Duration
	rewriteAfter    time.Duration
}

func parseServeFlags(args []string) (serveConfig, error) {
	var c serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", env("CUSTODY_HTTP_ADDR"), "HTTP listen address (CUSTODY_HTTP_ADDR)")
	fs.StringVar(&c.adminTokenFile, "admin-token-file", env("CUSTODY_ADMIN_TOKEN_FILE"),
		"where the generated admin token is kept when CUSTODY_ADMIN_TOKEN is unset (CUSTODY_ADMIN_TOKEN_FILE)")
	fs.StringVar(&c.relayRoutes, "relay-routes", os.Getenv("CUSTODY_RELAY_ROUTES"),
		"extra fan-out routes besides the in-process one: NAME=URL[?prefix=P&topics=KEY:TOPIC,...&corps=C,...&types=T,...&pii=true] separated by spaces or ';' (CUSTODY_RELAY_ROUTES)")
	fs.DurationVar(&c.settleEvery, "settle-every", envDurationOf("CUSTODY_SETTLE_EVERY"), "handover settle job period (CUSTODY_SETTLE_EVERY)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", envDurationOf("CUSTODY_SHUTDOWN_TIMEOUT"),
		"how long in-flight requests may take to finish on SIGTERM/SIGINT (CUSTODY_SHUTDOWN_TIMEOUT)")
	fs.Int64Var(&c.maxBody, "max-body", httpapi.DefaultMaxBodyBytes, "request body limit in bytes")
	fs.DurationVar(&c.keyRetention, "idempotency-retention", envDurationOf("CUSTODY_IDEMPOTENCY_RETENTION"),
		"how long answers to Idempotency-Key requests are kept for replay (CUSTODY_IDEMPOTENCY_RETENTION)")
	fs.DurationVar(&c.rewriteAfter, "erasure-rewrite-after", envDurationOf("CUSTODY_ERASURE_REWRITE_AFTER"),
		"how long after an erasure the tables holding personal data are rewritten at the latest (CUSTODY_ERASURE_REWRITE_AFTER)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: custody serve [flags]

Runs custody in one process: migrations, the HTTP API (/v1/corps/{corp}/...,
/openapi.json, the overview page at /), the projector, the handover settle
job, the slot keeper and the in-process fan-out. Without DATABASE_URL it
starts a private PostgreSQL under ./.data. SIGTERM or SIGINT stop it
gracefully.

Environment: DATABASE_URL, CUSTODY_HTTP_ADDR, CUSTODY_ADMIN_TOKEN,
CUSTODY_MASTER_KEY, CUSTODY_EVENT_LOG, CUSTODY_RELAY_ROUTES,
CUSTODY_ERASURE_REWRITE_AFTER,
CUSTODY_LOG_LEVEL, CUSTODY_LOG_FORMAT. Flags override the environment.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return c, errUsage
	}
	c.adminToken = os.Getenv("CUSTODY_ADMIN_TOKEN")
	return c, nil
}

// redactRoute keeps a broken route entry's passwords out of error messages.
func redactRoute(s string) string {
	if i := strings.Index(s, "@"); i >= 0 {
		return "…" + s[i:]
	}
	return s
}

// loadAdminToken returns the admin token: CUSTODY_ADMIN_TOKEN when set;
// otherwise the one kept in file, generated (0600) on first start. The
// token itself is never printed: only where it is.
func loadAdminToken(c serveConfig, logger *slog.Logger) (string, error) {
	if c.adminToken != "" {
		if len(c.adminToken) < 16 {
			return "", errors.New("CUSTODY_ADMIN_TOKEN must be at least 16 characters")
		}
		return c.adminToken, nil
	}
	b, err := os.ReadFile(c.adminTokenFile)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 16 {
			return "", fmt.Errorf("admin token file %s holds no usable token; delete it to generate a new one", c.adminTokenFile)
		}
		logger.Info("admin token loaded", "file", c.adminTokenFile)
		return tok, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate admin token: %w", err)
	}
	tok := "cust_admin_" + base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.MkdirAll(filepath.Dir(c.adminTokenFile), 0o700); err != nil {
		return "", fmt.Errorf("store admin token: %w", err)
	}
	// O_EXCL: two instances starting at once must not overwrite each
	// other's token.
	f, err := os.OpenFile(c.adminTokenFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadAdminToken(c, logger)
	}
	if err != nil {
		return "", fmt.Errorf("store admin token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("store admin token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("store admin token: %w", err)
	}
	logger.Warn("CUSTODY_ADMIN_TOKEN is not set: generated an admin token (valid for every corp); read it from the file",
		"file", c.adminTokenFile, "example", "curl -H \"Authorization: Bearer $(cat "+c.adminTokenFile+")\" http://localhost:8080/v1/corps/acme/overview")
	return tok, nil
}

// runServe implements `custody serve`.
func runServe(ctx context.Context, args []string) error {
	cfg, err := parseServeFlags(args)
	if err != nil {
		return err
	}
	logger := slog.Default()
	profileOnSignal(logger)
	adminToken, err := loadAdminToken(cfg, logger)
	if err != nil {
		return err
	}
	// Listen first: a busy port fails fast, before PostgreSQL starts.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	defer ln.Close()

	pool, closePG, err := openPostgres(ctx, logger)
	if err != nil {
		return err
	}
	defer closePG()
	if err := migrateAll(ctx, pool); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	evlog, eraser, closeLog, err := openEventLog(ctx, pool, logger)
	if err != nil {
		return err
	}
	defer closeLog()
	// The positions kept in the database must be this log's.
	logID, err := logIdentity(ctx, evlog)
	if err != nil {
		return err
	}
	if newly, err := logbinding.Check(ctx, pool, logID); err != nil {
		return err
	} else if newly {
		logger.Info("database bound to its event log", "log", logID.String())
	}

	reg := httpapi.NewRegistry()
	ilog, err := instrumented.New(evlog, reg)
	if err != nil {
		return err
	}
	// Each corp's settings are what its settings stream records (custody
	// settings set, PUT /v1/corps/{corp}/settings), read fresh for every
	// command so a change through any instance applies at once; handovers
	// of corps with an app secret are carried out in WeCom.
	wecomSet := newWeComSettings(&commands.LogSettings{Log: evlog})
	// Their group-owner changes too, synchronously; the API clients are
	// set below, before anything serves.
	var wecomClients *api.Clients
	wecomGroups := &outbound.GroupTransfers{Pool: pool, Clients: func(ctx context.Context, c string) (outbound.GroupWeCom, error) {
		return wecomClients.Client(ctx, c)
	}}
	snapshots, _ := evlog.(eventlog.Snapshots) // the instrumented log does not pass them on
	cmds, err := commands.New(commands.Options{
		Log: ilog, Eraser: eraser, Settings: wecomSet, Snapshots: snapshots,
		Pending:        pending.Handovers{Pool: pool},
		GroupTransfers: wecomGroups,
		StaffBatch:     envIntOf("CUSTODY_STAFF_BATCH"),
	})
	if err != nil {
		return err
	}
	// Instances divide the projections, and the partitions of the folds
	// (CUSTODY_PROJECTION_LEASE, CUSTODY_PROJECTION_PARTITIONS): each
	// applies those it owns; one alone owns them all.
	instance := env("CUSTODY_INSTANCE")
	if instance == "" {
		instance = projections.DefaultInstance()
	}
	runner, err := projections.NewRunner(pool, evlog, projections.Options{Logger: logger,
		Lease:      &projections.LeaseOptions{Instance: instance, TTL: envDurationOf("CUSTODY_PROJECTION_LEASE")},
		Partitions: envIntOf("CUSTODY_PROJECTION_PARTITIONS"),
		Linger:     envDurationOf("CUSTODY_PROJECTION_LINGER")})
	if err != nil {
		return err
	}
	if err := reg.Register(projectionLag{pool: pool, log: evlog, runner: runner}); err != nil {
		return err
	}
	routes, err := parseRelayRoutes(cfg.relayRoutes)
	if err != nil {
		return err
	}
	// The in-process pub/sub logs every event nobody subscribed to at info
	// level: demoted to debug, so that `make run` stays readable.
	inproc := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true},
		watermill.NewSlogLoggerWithLevelMapping(logger.With("component", "watermill"), map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug}))
	defer inproc.Close()
	fanout, err := relay.New(relay.Options{
		Log: evlog, Pool: pool, Routes: append([]relay.Route{relay.DefaultRoute}, routes...),
		InProcess: inproc, Registerer: reg, Logger: logger, Instance: instance,
	})
	if err != nil {
		return err
	}
	// The slot keeper follows the log from its checkpoint and completes
	// two-stream commands a killed process left half-applied (DESIGN §10).
	keeperCheckpoint, err := pgcheckpoint.New(pool, slotKeeperCheckpoint)
	if err != nil {
		return err
	}
	keeper, err := commands.NewSlotKeeper(cmds, commands.SlotKeeperOptions{Checkpoint: keeperCheckpoint, Logger: logger.With("component", "slot keeper")})
	if err != nil {
		return err
	}
	// The WeCom connector: callbacks verified and stored by the receiver
	// (no bearer token: WeCom signs), translated by the ingest worker.
	// The event log's keyring already warned about a development master
	// key; this second handle on the same keys need not repeat it.
	wecomKeyring, err := openKeyring(ctx, pool, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	wecomInbox := inbox.New(pool)
	wecomConns := connection.NewStore(pool, wecomKeyring)
	wecomSet.conns = wecomConns
	wecomReceiver, err := receiver.New(receiver.Options{
		Connections: wecomConns, Inbox: wecomInbox, Registerer: reg,
		Logger: logger.With("component", "wecom receiver"),
	})
	if err != nil {
		return err
	}
	// Details a callback does not carry (a group's owner and members, tag
	// names) are fetched through WeCom's API for corps connected with an
	// app secret; for the others they are marked for a fetch.
	wecomAPIMetrics, err := api.NewMetrics(reg)
	if err != nil {
		return err
	}
	wecomClients = api.NewClients(wecomConns, api.Options{Metrics: wecomAPIMetrics})
	translator := ingest.New(cmds, evlog, wecomInbox).WithDetails(api.Details{Clients: wecomClients.Client})
	var draining sync.Once
	drainingCh := make(chan struct{})
	api, err := httpapi.New(httpapi.Options{
		Pool: pool, Commands: cmds, Log: evlog, AdminToken: adminToken, Logger: logger, Registry: reg, MaxBodyBytes: cfg.maxBody,
		WeComConnections: wecomConns, WeComInbox: wecomInbox,
		Ready: func(ctx context.Context) error {
			select {
			case <-drainingCh:
				return errors.New("shutting down")
			default:
			}
			if err := pool.Ping(ctx); err != nil {
				return err
			}
			// The event log may live elsewhere (KurrentDB): not ready
			// while it cannot be reached.
			if _, err := evlog.Head(ctx); err != nil {
				return fmt.Errorf("event log: %w", err)
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	// The console (/console/, and / redirects there): sessions sealed
	// with a key derived from the master key, so every instance shares it.
	master, err := pii.LoadMasterKey(slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	sessionKey, err := hkdf.Key(sha256.New, master, nil, "custody console sessions", 32)
	if err != nil {
		return err
	}
	cons, err := console.New(console.Options{Auth: api, Commands: cmds, Log: evlog, Projections: pool,
		SessionKey: sessionKey, Logger: logger.With("component", "console")})
	if err != nil {
		return err
	}
	api.Mount(console.Prefix, cons)
	srv := &http.Server{
		Handler:           withWeCom(wecomReceiver, api),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	// Workers run until workCtx ends, after the HTTP server has drained, so
	// that commands accepted before the signal are still projected and
	// relayed as far as they get; the projector and relay checkpoint on
	// their way out.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	start := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(workCtx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	start("projector", runner.Run)
	start("relay", fanout.Run)
	start("settle job", jobs.Settle{Commands: cmds, Pool: pool, Every: cfg.settleEvery, Logger: logger}.Run)
	start("slot keeper", keeper.Run)
	start("erasure job", erasure.Job{Pool: pool, RewriteAfter: cfg.rewriteAfter, Logger: logger.With("component", "erasure")}.Run)
	start("wecom ingest", func(ctx context.Context) error {
		return ingest.Run(ctx, wecomInbox, translator, ingest.RunOptions{Logger: logger.With("component", "wecom ingest")})
	})
	// WeCom's API side: details after hints, handovers carried out in
	// WeCom, the periodic reconcile (serve_wecom.go).
	wecomRun, err := wecomWorkers(pool, evlog, cmds, runner, wecomConns, wecomInbox, wecomClients, reg, logger)
	if err != nil {
		return err
	}
	for name, run := range wecomRun {
		start(name, run)
	}
	start("idempotency janitor", func(ctx context.Context) error {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if n, err := api.PruneIdempotency(ctx, cfg.keyRetention); err != nil && ctx.Err() == nil {
				logger.Warn("pruning idempotency answers failed", "err", err)
			} else if n > 0 {
				logger.Info("pruned idempotency answers", "deleted", n)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
	})
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(httpapi.Listener(ln)) }()
	if serving != nil {
		serving(ln.Addr())
	}
	logger.Info("custody is serving", "addr", ln.Addr().String(), "overview", "http://"+displayAddr(ln.Addr())+"/",
		"openapi", "http://"+displayAddr(ln.Addr())+"/openapi.json")

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down: draining requests", "timeout", cfg.shutdownTimeout)
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-errc:
		runErr = err
	}
	draining.Do(func() { close(drainingCh) })
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		logger.Warn("requests still running at the shutdown timeout were cut", "err", err)
	}
	stopWork()
	wg.Wait()
	logger.Info("custody stopped")
	return runErr
}

func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// projectionLag exports each projection's lag behind the log at scrape
// time: custody_projection_events_behind (capped at 10,000) and
// custody_projection_lag_seconds, and its parked corps:
// custody_projection_parked. It also says who applies it:
// custody_projection_owned (1 on the instance that applies it now, 0 on
// the others), custody_projection_owned_since_seconds (on that instance)
// and custody_projection_owner{instance} (1 for the owner recorded in the
// database, alive and not released; the same on every instance).
type projectionLag struct {
	pool   *pgxpool.Pool
	log    projections.Source
	runner *projections.Runner
}

var (
	lagEventsDesc  = prometheus.NewDesc("custody_projection_events_behind", "Events in the log after the projection's checkpoint (counted up to 10,000).", []string{"projection"}, nil)
	lagSecondsDesc = prometheus.NewDesc("custody_projection_lag_seconds", "How much older the projection's last applied event is than the newest in the log.", []string{"projection"}, nil)
	parkedDesc     = prometheus.NewDesc("custody_projection_parked", "1 for each corp whose events the projection skips since one could not be applied (see custody projections status).", []string{"projection", "corp"}, nil)
	ownedDesc      = prometheus.NewDesc("custody_projection_owned", "1 when this instance applies the projection now (instances divide the projections), else 0.", []string{"projection"}, nil)
	ownedSinceDesc = prometheus.NewDesc("custody_projection_owned_since_seconds", "When this instance took the projection over (Unix time); only for projections it applies.", []string{"projection"}, nil)
	ownerDesc      = prometheus.NewDesc("custody_projection_owner", "1 for the instance recorded as applying the projection when it is alive and has not released it, else 0 (the same on every instance).", []string{"projection", "instance"}, nil)
)

func (projectionLag) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagEventsDesc
	ch <- lagSecondsDesc
	ch <- parkedDesc
	ch <- ownedDesc
	ch <- ownedSinceDesc
	ch <- ownerDesc
}

func (p projectionLag) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	lags, err := projections.Status(ctx, p.pool, p.log, projections.All(), projections.StatusOptions{ScanLimit: 10_000})
	if err != nil {
		slog.Warn("projection lag not measured", "err", err)
		return
	}
	// A projection applied in partitions is owned by this instance when
	// one of them is, since it took the first; its owners are those of
	// its partitions.
	owned := map[string]projections.Owned{}
	if p.runner != nil {
		for _, o := range p.runner.Owned() {
			name := projections.ProjectionOf(o.Name)
			if prev, ok := owned[name]; !ok || o.Since.Before(prev.Since) {
				owned[name] = o
			}
		}
	}
	for _, l := range lags {
		o, mine := owned[l.Name]
		ch <- prometheus.MustNewConstMetric(ownedDesc, prometheus.GaugeValue, b2f(mine), l.Name)
		if mine && !o.Since.IsZero() {
			ch <- prometheus.MustNewConstMetric(ownedSinceDesc, prometheus.GaugeValue, float64(o.Since.Unix()), l.Name)
		}
		if l.Owner != nil {
			ch <- prometheus.MustNewConstMetric(ownerDesc, prometheus.GaugeValue, b2f(l.Owner.Alive && !l.Owner.Released), l.Name, l.Owner.Instance)
		}
		applying := map[string]bool{}
		var instances []string
		for _, po := range l.PartitionOwners {
			if _, seen := applying[po.Instance]; !seen {
				instances = append(instances, po.Instance)
			}
			applying[po.Instance] = applying[po.Instance] || (po.Alive && !po.Released)
		}
		for _, inst := range instances {
			ch <- prometheus.MustNewConstMetric(ownerDesc, prometheus.GaugeValue, b2f(applying[inst]), l.Name, inst)
		}
		ch <- prometheus.MustNewConstMetric(lagEventsDesc, prometheus.GaugeValue, float64(l.EventsBehind), l.Name)
		ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, l.Behind.Seconds(), l.Name)
		for _, p := range l.Parked {
			ch <- prometheus.MustNewConstMetric(parkedDesc, prometheus.GaugeValue, 1, l.Name, p.CorpID)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// withWeCom routes WeCom's callbacks (receiver.PathPrefix) to the receiver
// and everything else to the API. A plain prefix test, not a ServeMux, so
// that the API's own path checks see every other request unchanged.
func withWeCom(wecom, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, receiver.PathPrefix) {
			wecom.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
