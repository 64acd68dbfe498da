package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/pg/pglaunch"
	"github.com/custody/custody/internal/proccpu"
)

// Bounds of bench's flags: every client is a goroutine with a connection,
// every instance a process with a pool.
const (
	maxBenchClients   = 1024
	maxBenchInstances = 16
)

// benchConfig is bench's configuration.
type benchConfig struct {
	clients    []int
	rounds     int
	round      time.Duration
	staff      int
	cpuProfile string
	keep       bool
	instances  int
	hot        bool
}

func parseBenchFlags(args []string) (benchConfig, error) {
	var c benchConfig
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	clients := fs.String("clients", "16", "comma-separated concurrent client counts, each measured in its own rounds")
	fs.IntVar(&c.rounds, "rounds", 3, "alternating rounds (INSERT baseline, then HTTP) per client count")
	fs.DurationVar(&c.round, "round", 10*time.Second, "duration of each side of a round")
	fs.IntVar(&c.staff, "staff", 200, "staff members of the benchmark corp")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the server's CPU profile over the HTTP rounds to this file")
	fs.BoolVar(&c.keep, "keep", false, "keep the private PostgreSQL's data directory")
	fs.IntVar(&c.instances, "instances", 1, "custody serve processes on the one database; clients are spread over them")
	fs.BoolVar(&c.hot, "hot", false, "measure adds for one member instead: rounds alternate CUSTODY_STAFF_BATCH=1 (one append per add) and the default")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: custody bench [flags]

Starts a private durable PostgreSQL (or uses DATABASE_URL, whose database
it fills) and 'custody serve' on it as a child process (projector, relay,
slot keeper live), then runs, per client count, alternating rounds of
  - the baseline: one-row INSERT transactions (autocommit) from N clients;
  - the load: a realistic command mix over HTTP from N clients, every
    command with an Idempotency-Key (staff joins, relation starts and
    ends, handovers of 1-5 customers, refusals, cancellations, group
    joins);
and prints each round's throughput, latency, CPU of custody and of
PostgreSQL, PostgreSQL transactions per command and the HTTP/INSERT ratio.

With -hot, every command is an add of a new customer to one staff
member, and the rounds alternate servers started with
CUSTODY_STAFF_BATCH=1 (every slot reservation its own append to the
member's stream: the baseline) and with the default (concurrent ones
appended together); it prints adds/s and latency of both.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, errUsage
	}
	for _, s := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > maxBenchClients {
			return c, fmt.Errorf("%w: -clients takes client counts from 1 to %d, separated by commas", errUsage, maxBenchClients)
		}
		c.clients = append(c.clients, n)
	}
	if c.cpuProfile != "" {
		abs, err := filepath.Abs(c.cpuProfile)
		if err != nil {
			return c, err
		}
		c.cpuProfile = abs
	}
	if c.rounds < 1 || c.round <= 0 || c.staff < 2 {
		return c, fmt.Errorf("%w: -rounds, -round and -staff must be positive (staff >= 2)", errUsage)
	}
	if c.instances < 1 || c.instances > maxBenchInstances {
		return c, fmt.Errorf("%w: -instances takes 1 to %d custody serve processes", errUsage, maxBenchInstances)
	}
	return c, nil
}

func runBench(ctx context.Context, args []string) error {
	cfg, err := parseBenchFlags(args)
	if err != nil {
		return err
	}
	logger := slog.Default()
	dsn, pgPID, stopPG, err := benchPostgres(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer stopPG()

	if cfg.hot {
		return runHotBench(ctx, dsn, cfg)
	}
	srvs, err := startBenchServers(ctx, dsn, cfg)
	if err != nil {
		return err
	}
	defer srvs.stop()

	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	pcfg.MaxConns = int32(slices.Max(cfg.clients) + 2) // every baseline client holds a connection
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), payload text NOT NULL)`); err != nil {
		return fmt.Errorf("bench table: %w", err)
	}

	mix := newBenchMix(srvs.urls(), srvs.token, cfg.staff)
	if err := mix.setup(ctx); err != nil {
		return err
	}
	fmt.Printf("custody bench: %d staff, %d custody serve, rounds of %s, load average %s\n", cfg.staff, cfg.instances, cfg.round, loadAverage())
	fmt.Println()
	fmt.Println("| clients | round | INSERT tx/s | HTTP cmds/s | ratio | HTTP p50 ms | HTTP p99 ms | non-2xx | custody cores | PG cores (INSERT / HTTP) | PG tx per cmd | projector checkpoint writes per cmd | CPU ms per cmd (custody + PG) / per INSERT (PG) | load avg |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, clients := range cfg.clients {
		var ins, cmds float64
		for r := 1; r <= cfg.rounds; r++ {
			pg0 := proccpu.Tree(pgPID)
			base, err := benchInserts(ctx, pool, clients, cfg.round)
			if err != nil {
				return err
			}
			pgIns := (proccpu.Tree(pgPID) - pg0).Seconds() / base.elapsed.Seconds()

			if cfg.cpuProfile != "" {
				srvs.profile(true)
			}
			tx0, err := pgTransactions(ctx, pool)
			if err != nil {
				return err
			}
			pg0, cu0 := proccpu.Tree(pgPID), srvs.cpu()
			load, err := mix.run(ctx, clients, cfg.round)
			if err != nil {
				return err
			}
			pgHTTP := (proccpu.Tree(pgPID) - pg0).Seconds() / load.elapsed.Seconds()
			cu := (srvs.cpu() - cu0).Seconds() / load.elapsed.Seconds()
			tx1, err := pgTransactions(ctx, pool)
			if err != nil {
				return err
			}
			if cfg.cpuProfile != "" {
				srvs.profile(false)
			}
			ins += base.rate()
			cmds += load.rate()
			// CPU per operation is steadier than throughput on a shared
			// machine: other processes take time, not instructions.
			fmt.Printf("| %d | %d | %.0f | %.0f | %.1f %% | %.1f | %.1f | %d | %.2f | %.2f / %.2f | %.1f | %.2f | %.2f / %.3f | %s |\n",
				clients, r, base.rate(), load.rate(), 100*load.rate()/base.rate(), load.pct(0.5), load.pct(0.99), load.rejected,
				cu, pgIns, pgHTTP, float64(tx1.tx-tx0.tx)/float64(load.ops), float64(tx1.checkpoints-tx0.checkpoints)/float64(load.ops),
				1000*(cu+pgHTTP)/load.rate(), 1000*pgIns/base.rate(), loadAverage())
		}
		fmt.Printf("| %d | all | %.0f | %.0f | **%.1f %%** | | | | | | | | | |\n", clients, ins/float64(cfg.rounds), cmds/float64(cfg.rounds), 100*cmds/ins)
	}
	return nil
}

// benchPostgres returns the database to measure: DATABASE_URL's, or a
// fresh private durable server's (stopped and removed by the returned
// function unless -keep). pid is the postmaster's, 0 when unknown.
func benchPostgres(ctx context.Context, cfg benchConfig, logger *slog.Logger) (dsn string, pid int, stop func(), err error) {
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		return dsn, 0, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "custody-bench-")
	if err != nil {
		return "", 0, nil, err
	}
	// The server may run as another OS user (pglaunch, as root): it must
	// be able to reach its directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", 0, nil, err
	}
	inst, err := pglaunch.Start(ctx, pglaunch.Options{Dir: filepath.Join(dir, "pg"), Logger: logger})
	if err != nil {
		os.RemoveAll(dir)
		return "", 0, nil, fmt.Errorf("private PostgreSQL (or set DATABASE_URL): %w", err)
	}
	stop = func() {
		if err := inst.Stop(); err != nil {
			logger.Error("stop the private PostgreSQL", "err", err)
		}
		if !cfg.keep {
			os.RemoveAll(dir)
		}
	}
	dsn, err = ensureDatabase(ctx, inst.URL(), "custody_bench")
	if err != nil {
		stop()
		return "", 0, nil, err
	}
	b, _ := os.ReadFile(filepath.Join(dir, "pg", "postmaster.pid"))
	pid, _ = strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	return dsn, pid, stop, nil
}

// benchServer is `custody serve` run as a child process.
type benchServer struct {
	cmd *exec.Cmd
	dir string
	url string
}

// benchServers are the custody serve processes of a bench, sharing one
// database, admin token and master key.
type benchServers struct {
	token string
	all   []*benchServer
}

// benchSecrets are the admin token and master key of every server a bench
// starts: servers started later read what earlier ones sealed.
var benchSecrets = sync.OnceValue(func() (s struct{ token, masterKey string }) {
	tok, key := make([]byte, 16), make([]byte, 32)
	rand.Read(tok)
	rand.Read(key)
	s.token, s.masterKey = hex.EncodeToString(tok), base64.StdEncoding.EncodeToString(key)
	return s
})

// startBenchServers starts cfg.instances servers on dsn with env added to
// their environment.
func startBenchServers(ctx context.Context, dsn string, cfg benchConfig, env ...string) (*benchServers, error) {
	secrets := benchSecrets()
	ss := &benchServers{token: secrets.token}
	env = append(env, "CUSTODY_ADMIN_TOKEN="+ss.token, "CUSTODY_MASTER_KEY="+secrets.masterKey)
	for range cfg.instances {
		s, err := startBenchServer(ctx, dsn, cfg, env)
		if err != nil {
			ss.stop()
			return nil, err
		}
		ss.all = append(ss.all, s)
	}
	return ss, nil
}

func (ss *benchServers) urls() []string {
	out := make([]string, len(ss.all))
	for i, s := range ss.all {
		out[i] = s.url
	}
	return out
}

// cpu is the CPU time the servers have used.
func (ss *benchServers) cpu() time.Duration {
	var t time.Duration
	for _, s := range ss.all {
		t += proccpu.Tree(s.cmd.Process.Pid)
	}
	return t
}

func (ss *benchServers) profile(on bool) {
	for _, s := range ss.all {
		s.profile(on)
	}
}

func (ss *benchServers) stop() {
	for _, s := range ss.all {
		s.stop()
	}
}

func startBenchServer(ctx context.Context, dsn string, cfg benchConfig, env []string) (*benchServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &benchServer{url: "http://" + addr}
	s.cmd = exec.Command(exe, "serve", "-addr", addr)
	s.cmd.Env = append(append(os.Environ(), "DATABASE_URL="+dsn, "CUSTODY_LOG_LEVEL=warn"), env...)
	if cfg.cpuProfile != "" {
		s.cmd.Env = append(s.cmd.Env, "CUSTODY_CPUPROFILE="+cfg.cpuProfile)
	}
	// The server keeps its generated development keys in ./.data: a
	// directory of its own, removed with the bench.
	dir, err := os.MkdirTemp("", "custody-bench-serve-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start custody serve: %w", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("custody serve at %s did not become ready", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// profile starts (on) or stops the server's CPU profile (see
// profileOnSignal).
func (s *benchServer) profile(on bool) {
	if on {
		s.cmd.Process.Signal(syscall.SIGUSR1)
	} else {
		s.cmd.Process.Signal(syscall.SIGUSR2)
	}
}

func (s *benchServer) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(s.dir)
}

// benchStats are one side of a round.
type benchStats struct {
	ops      int
	rejected int
	elapsed  time.Duration
	lat      []time.Duration
}

func (b benchStats) rate() float64 { return float64(b.ops) / b.elapsed.Seconds() }

func (b benchStats) pct(p float64) float64 {
	if len(b.lat) == 0 {
		return 0
	}
	all := slices.Clone(b.lat)
	slices.Sort(all)
	return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
}

// closedLoop runs op on n goroutines for d and collects latencies.
func closedLoop(ctx context.Context, n int, d time.Duration, op func(ctx context.Context, client int) (ok bool, err error)) (benchStats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([][]time.Duration, n)
	var rejected atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for c := range n {
		wg.Go(func() {
			for time.Now().Before(end) && ctx.Err() == nil {
				t0 := time.Now()
				ok, err := op(ctx, c)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					cancel()
					return
				}
				if !ok {
					rejected.Add(1)
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	st := benchStats{elapsed: time.Since(start), rejected: int(rejected.Load())}
	for _, l := range lat {
		st.lat = append(st.lat, l...)
	}
	st.ops = len(st.lat)
	if err, _ := firstErr.Load().(error); err != nil {
		return st, err
	}
	return st, nil
}

// benchInserts is the baseline: one-row INSERT transactions (autocommit).
func benchInserts(ctx context.Context, pool *pgxpool.Pool, clients int, d time.Duration) (benchStats, error) {
	conns := make([]*pgxpool.Conn, clients)
	for i := range conns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return benchStats{}, err
		}
		defer c.Release()
		conns[i] = c
	}
	return closedLoop(ctx, clients, d, func(ctx context.Context, client int) (bool, error) {
		_, err := conns[client].Exec(ctx, `INSERT INTO bench_insert (payload) VALUES ($1)`, "a one-row transaction of about a hundred bytes, like a small event")
		return true, err
	})
}

// pgCounts are the server's counts of transactions (committed and rolled
// back) in the current database and of projector checkpoint updates (one
// per projection per committed batch).
type pgCounts struct{ tx, checkpoints int64 }

func pgTransactions(ctx context.Context, pool *pgxpool.Pool) (pgCounts, error) {
	var c pgCounts
	err := pool.QueryRow(ctx, `SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()),
		coalesce((SELECT n_tup_upd FROM pg_stat_user_tables WHERE schemaname = 'projections' AND relname = 'projection_checkpoints'), 0)`).Scan(&c.tx, &c.checkpoints)
	return c, err
}

// benchMix drives the realistic command mix. Each client owns its
// customers (so its own view of relations and handovers is exact) and
// shares the staff members and group chats with every other client.
type benchMix struct {
	urls   []string
	token  string
	staff  int
	groups int
	client *http.Client
	run0   string // distinguishes ids of one bench process
	next   atomic.Int64
	states sync.Map // client -> *mixClient
}

type mixRelation struct{ customer, staff string }

type mixHandover struct {
	rel mixRelation
	id  string
}

type mixClient struct {
	base    string // the server this client talks to
	rng     *mrand.Rand
	active  []mixRelation
	pending []mixHandover
}

func newBenchMix(urls []string, token string, staff int) *benchMix {
	tag := make([]byte, 4)
	rand.Read(tag)
	return &benchMix{urls: urls, token: token, staff: staff, groups: 50,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}},
		run0:   hex.EncodeToString(tag)}
}

func (m *benchMix) id(prefix string) string {
	return prefix + m.run0 + "-" + strconv.FormatInt(m.next.Add(1), 10)
}

func (m *benchMix) staffID(i int) string { return "s" + strconv.Itoa(i) }

// setup joins the staff members and creates the group chats.
func (m *benchMix) setup(ctx context.Context) error {
	for i := range m.staff {
		if _, _, err := m.post(ctx, "/v1/corps/bench/staff", map[string]any{"staff_id": m.staffID(i), "capacity": 1_000_000}); err != nil {
			return fmt.Errorf("bench setup: %w", err)
		}
	}
	for i := range m.groups {
		if _, _, err := m.post(ctx, "/v1/corps/bench/groups", map[string]any{"chat_id": "g" + strconv.Itoa(i), "owner_id": m.staffID(i % m.staff)}); err != nil {
			return fmt.Errorf("bench setup: %w", err)
		}
	}
	return nil
}

// post sends one command to the first server (see postTo).
func (m *benchMix) post(ctx context.Context, path string, body any) (int, []byte, error) {
	return m.postTo(ctx, m.urls[0], path, body)
}

// postTo sends one command with a fresh Idempotency-Key to the server at
// base. It returns the status and body; a 5xx or a transport failure is an
// error.
func (m *benchMix) postTo(ctx context.Context, base, path string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+m.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", m.id("k"))
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode >= 500 {
		return resp.StatusCode, out, fmt.Errorf("POST %s: HTTP %d: %s", path, resp.StatusCode, out)
	}
	return resp.StatusCode, out, nil
}

func (m *benchMix) state(client int) *mixClient {
	v, _ := m.states.LoadOrStore(client, &mixClient{base: m.urls[client%len(m.urls)], rng: mrand.New(mrand.NewPCG(uint64(client), 7))})
	return v.(*mixClient)
}

// run drives the mix from clients goroutines for d.
func (m *benchMix) run(ctx context.Context, clients int, d time.Duration) (benchStats, error) {
	return closedLoop(ctx, clients, d, func(ctx context.Context, client int) (bool, error) {
		return m.step(ctx, m.state(client))
	})
}

// step issues one command of the mix: relation starts 40 %, ends 12 %,
// handovers of 1-5 customers 10 %, refusals 5 %, cancellations 5 %, group
// joins 23 %, staff joins 5 % (a command that has nothing to act on yet
// starts a relation instead).
func (m *benchMix) step(ctx context.Context, c *mixClient) (bool, error) {
	const corp = "/v1/corps/bench"
	ok := func(status int) bool { return status >= 200 && status < 300 }
	x := c.rng.IntN(100)
	switch {
	case x < 12 && len(c.active) > 0: // relation ends
		i := c.rng.IntN(len(c.active))
		r := c.active[i]
		c.active = slices.Delete(c.active, i, i+1)
		st, _, err := m.postTo(ctx, c.base, corp+"/customers/"+r.customer+"/relations/"+r.staff+"/end", map[string]any{"by": "customer"})
		return ok(st), err
	case x < 22 && len(c.active) > 0: // handover of 1-5 customers of one member
		from := c.active[c.rng.IntN(len(c.active))].staff
		to := m.staffID(c.rng.IntN(m.staff))
		if to == from {
			to = m.staffID((c.rng.IntN(m.staff-1) + 1 + atoiStaff(from)) % m.staff)
		}
		k := 1 + c.rng.IntN(5)
		var picked []mixRelation
		rest := c.active[:0]
		for _, r := range c.active {
			if r.staff == from && len(picked) < k {
				picked = append(picked, r)
				continue
			}
			rest = append(rest, r)
		}
		c.active = rest
		ids := make([]string, len(picked))
		for i, r := range picked {
			ids[i] = r.customer
		}
		st, body, err := m.postTo(ctx, c.base, corp+"/handovers", map[string]any{"kind": "in_service", "from_staff_id": from, "to_staff_id": to, "customer_ids": ids})
		if err != nil {
			return false, err
		}
		var res struct {
			Outcomes []struct {
				CustomerID string `json:"customer_id"`
				HandoverID string `json:"handover_id"`
				Status     string `json:"status"`
			} `json:"outcomes"`
		}
		json.Unmarshal(body, &res)
		for i, r := range picked {
			if i < len(res.Outcomes) && res.Outcomes[i].Status == "pending" {
				c.pending = append(c.pending, mixHandover{rel: r, id: res.Outcomes[i].HandoverID})
			} else {
				c.active = append(c.active, r)
			}
		}
		return ok(st), nil
	case x < 32 && len(c.pending) > 0: // refusals and cancellations
		h := c.pending[0]
		c.pending = c.pending[1:]
		what := "refusal"
		if x >= 27 {
			what = "cancellation"
		}
		st, _, err := m.postTo(ctx, c.base, corp+"/customers/"+h.rel.customer+"/handovers/"+h.id+"/"+what, map[string]any{})
		if ok(st) {
			c.active = append(c.active, h.rel)
		}
		return ok(st), err
	case x >= 72 && x < 95: // group joins
		st, _, err := m.postTo(ctx, c.base, corp+"/groups/g"+strconv.Itoa(c.rng.IntN(m.groups))+"/members",
			map[string]any{"member_id": m.id("gm"), "member_type": "customer", "join_scene": "qrcode", "nickname": "N"})
		return ok(st), err
	case x >= 95: // staff joins
		st, _, err := m.postTo(ctx, c.base, corp+"/staff", map[string]any{"staff_id": m.id("sj"), "name": "New Member"})
		return ok(st), err
	}
	r := mixRelation{customer: m.id("c"), staff: m.staffID(c.rng.IntN(m.staff))}
	st, _, err := m.postTo(ctx, c.base, corp+"/customers/"+r.customer+"/relations",
		map[string]any{"staff_id": r.staff, "initiator": "customer", "add_way": 1, "customer_name": "Wang", "remark": "met at the fair", "tags": []string{"lead"}})
	if ok(st) {
		c.active = append(c.active, r)
	}
	return ok(st), err
}

func atoiStaff(id string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(id, "s"))
	return n
}

// loadAverage is the 1-minute load average.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// runHotBench measures adds for one member: per client count, rounds of
// servers with CUSTODY_STAFF_BATCH=1 (the baseline) and with the default,
// each round on servers started for it (same database, growing).
func runHotBench(ctx context.Context, dsn string, cfg benchConfig) error {
	fmt.Printf("custody bench -hot: adds for one member, %d custody serve, rounds of %s, load average %s\n", cfg.instances, cfg.round, loadAverage())
	fmt.Println()
	fmt.Println("| clients | round | adds/s, one append each | p50 / p99 ms | adds/s, batched | p50 / p99 ms | gain | load avg |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, clients := range cfg.clients {
		var one, batched float64
		for r := 1; r <= cfg.rounds; r++ {
			var st [2]benchStats
			for i, env := range [][]string{{"CUSTODY_STAFF_BATCH=1"}, nil} {
				srvs, err := startBenchServers(ctx, dsn, cfg, env...)
				if err != nil {
					return err
				}
				mix := newBenchMix(srvs.urls(), srvs.token, 2)
				if _, _, err := mix.post(ctx, "/v1/corps/bench/staff", map[string]any{"staff_id": "hot", "capacity": 1_000_000}); err != nil {
					srvs.stop()
					return fmt.Errorf("bench setup: %w", err)
				}
				st[i], err = closedLoop(ctx, clients, cfg.round, func(ctx context.Context, client int) (bool, error) {
					status, _, err := mix.postTo(ctx, mix.urls[client%len(mix.urls)], "/v1/corps/bench/customers/"+mix.id("c")+"/relations",
						map[string]any{"staff_id": "hot", "initiator": "customer", "add_way": 1, "customer_name": "Wang", "remark": "met at the fair"})
					return status >= 200 && status < 300, err
				})
				srvs.stop()
				if err != nil {
					return err
				}
			}
			one += st[0].rate()
			batched += st[1].rate()
			fmt.Printf("| %d | %d | %.0f | %.1f / %.1f | %.0f | %.1f / %.1f | %.1f× | %s |\n", clients, r,
				st[0].rate(), st[0].pct(0.5), st[0].pct(0.99), st[1].rate(), st[1].pct(0.5), st[1].pct(0.99), st[1].rate()/st[0].rate(), loadAverage())
		}
		fmt.Printf("| %d | all | %.0f | | %.0f | | **%.1f×** | |\n", clients, one/float64(cfg.rounds), batched/float64(cfg.rounds), batched/one)
	}
	return nil
}
