package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/internal/proccpu"
)

// BenchmarkCommandThroughput compares command throughput over HTTP (JSON,
// bearer-token lookup, strict decoding, the command, the JSON answer) with
// calling the command handler directly in the same process, at 8 and 32
// concurrent clients, on the PostgreSQL log. Each operation records a
// consent for a new customer (one stream read, one append); with
// -benchtime=Nx every variant runs the same N operations.
//
// Reported: ops/s, p50-ms and p99-ms per operation, and peak-rss-MiB of the
// benchmark process (server and clients together: an upper bound of the
// service's resident memory under that load).
//
// With CUSTODY_BENCH_URL and CUSTODY_BENCH_TOKEN (admin or corp "bench")
// the HTTP variants load a running `custody serve` instead, and with
// CUSTODY_BENCH_PID they report that process's peak resident memory.
func BenchmarkCommandThroughput(b *testing.B) {
	if url := os.Getenv("CUSTODY_BENCH_URL"); url != "" {
		for _, clients := range []int{8, 32} {
			b.Run(fmt.Sprintf("serve/clients=%d", clients), func(b *testing.B) {
				benchHTTP(b, url, os.Getenv("CUSTODY_BENCH_TOKEN"), clients, false)
			})
		}
		return
	}
	h := newHarness(b, harnessOptions{noRunner: true, maxConns: 48})
	tok := h.token("bench")
	for _, clients := range []int{8, 32} {
		b.Run(fmt.Sprintf("direct/clients=%d", clients), func(b *testing.B) {
			measure(b, clients, directOp(h, fmt.Sprintf("d%d-%d-", clients, time.Now().UnixNano())))
		})
		for _, withKey := range []bool{false, true} {
			name := fmt.Sprintf("http/clients=%d", clients)
			if withKey {
				name = fmt.Sprintf("http+idempotency-key/clients=%d", clients)
			}
			b.Run(name, func(b *testing.B) { benchHTTP(b, h.ts.URL, tok, clients, withKey) })
		}
	}
}

// benchHTTP posts consents over HTTP with a corp token, optionally each
// with its own Idempotency-Key (a lookup and a stored answer per request).
func benchHTTP(b *testing.B, base, tok string, clients int, withKey bool) {
	client := benchClient(clients)
	defer client.CloseIdleConnections()
	measure(b, clients, httpOp(client, base, tok, fmt.Sprintf("h%v%d-%d-", withKey, clients, time.Now().UnixNano()), withKey))
}

func benchClient(clients int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
}

// directOp records a consent for customer prefix+i by calling the command
// handler.
func directOp(h *harness, prefix string) func(int64) error {
	return func(i int64) error {
		_, err := h.cmds.RecordConsent(context.Background(), commands.RecordConsent{
			Meta:       commands.Meta{CorpID: "bench", Actor: "admin:bench"},
			CustomerID: prefix + strconv.FormatInt(i, 10), Purpose: "marketing", State: "agree",
		})
		return err
	}
}

// httpOp records the same consent through the API.
func httpOp(client *http.Client, base, tok, prefix string, withKey bool) func(int64) error {
	body := `{"purpose":"marketing","state":"agree"}`
	return func(i int64) error {
		id := prefix + strconv.FormatInt(i, 10)
		req, err := http.NewRequest("POST", base+"/v1/corps/bench/customers/"+id+"/consents", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		if withKey {
			req.Header.Set("Idempotency-Key", id)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	}
}

// BenchmarkHTTPvsDirect measures the same operation (a consent for a new
// customer) over HTTP and by calling the handler directly, alternating the
// two in ten rounds so that both see the same machine load, and reports
// http/direct-% (HTTP throughput as a percentage of direct) with each side's
// ops/s, p50, p99 and CPU per operation.
func BenchmarkHTTPvsDirect(b *testing.B) {
	h := newHarness(b, harnessOptions{noRunner: true, maxConns: 48})
	tok := h.token("bench")
	for _, clients := range []int{8, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			client := benchClient(clients)
			defer client.CloseIdleConnections()
			stamp := time.Now().UnixNano()
			direct := directOp(h, fmt.Sprintf("vd%d-%d-", clients, stamp))
			viaHTTP := httpOp(client, h.ts.URL, tok, fmt.Sprintf("vh%d-%d-", clients, stamp), false)
			const rounds = 10
			per := max(int64(b.N)/rounds, int64(clients))
			var d, hs loadStats
			b.ResetTimer()
			for r := int64(0); r < rounds; r++ {
				st, err := load(clients, r*per, (r+1)*per, direct)
				if err != nil {
					b.Fatal(err)
				}
				d.add(st)
				if st, err = load(clients, r*per, (r+1)*per, viaHTTP); err != nil {
					b.Fatal(err)
				}
				hs.add(st)
			}
			b.StopTimer()
			d.report(b, "direct-")
			hs.report(b, "http-")
			b.ReportMetric(100*hs.opsPerSec()/d.opsPerSec(), "http/direct-%")
		})
	}
}

// measure runs b.N operations on `clients` goroutines and reports
// throughput and latency percentiles.
func measure(b *testing.B, clients int, op func(i int64) error) {
	b.ResetTimer()
	st, err := load(clients, 0, int64(b.N), op)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	st.report(b, "")
}

// loadStats are the measurements of one load run.
type loadStats struct {
	ops     int
	elapsed time.Duration
	cpu     time.Duration
	lat     []time.Duration
}

func (st *loadStats) add(o loadStats) {
	st.ops += o.ops
	st.elapsed += o.elapsed
	st.cpu += o.cpu
	st.lat = append(st.lat, o.lat...)
}

func (st loadStats) opsPerSec() float64 { return float64(st.ops) / st.elapsed.Seconds() }

// report adds st's metrics to b, their units prefixed with prefix.
func (st loadStats) report(b *testing.B, prefix string) {
	if st.ops == 0 {
		return
	}
	all := slices.Clone(st.lat)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	b.ReportMetric(st.opsPerSec(), prefix+"ops/s")
	b.ReportMetric(pct(0.50), prefix+"p50-ms")
	b.ReportMetric(pct(0.99), prefix+"p99-ms")
	// CPU time of this process per operation: unlike ops/s it hardly
	// depends on what else the machine runs (PostgreSQL's own CPU is not
	// in it).
	b.ReportMetric(float64(st.cpu.Microseconds())/float64(st.ops), prefix+"cpu-µs/op")
	b.ReportMetric(peakRSSMiB(), "peak-rss-MiB")
}

// load runs operations from..to-1 on `clients` goroutines.
func load(clients int, from, to int64, op func(i int64) error) (loadStats, error) {
	var next atomic.Int64
	next.Store(from)
	lat := make([][]time.Duration, clients)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	cpu0 := proccpu.Self()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= to {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	st := loadStats{elapsed: time.Since(start), cpu: proccpu.Self() - cpu0}
	for _, l := range lat {
		st.lat = append(st.lat, l...)
	}
	st.ops = len(st.lat)
	if err, _ := firstErr.Load().(error); err != nil {
		return st, err
	}
	return st, nil
}

// peakRSSMiB is the peak resident set (VmHWM) of the benchmark process, or
// of CUSTODY_BENCH_PID, in MiB.
func peakRSSMiB() float64 {
	pid := "self"
	if p := os.Getenv("CUSTODY_BENCH_PID"); p != "" {
		pid = p
	}
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkAPIOverhead measures the API's own cost without the command:
// a request refused after authentication and strict decoding (an unknown
// field), over HTTP at 8 clients. Compare its cpu-µs/op with the command
// benchmarks' to see what the HTTP layer adds.
func BenchmarkAPIOverhead(b *testing.B) {
	h := newHarness(b, harnessOptions{noRunner: true})
	tok := h.token("bench")
	client := benchClient(8)
	defer client.CloseIdleConnections()
	body := `{"purpose":"marketing","state":"agree","unknown":1}`
	measure(b, 8, func(i int64) error {
		req, err := http.NewRequest("POST", h.ts.URL+"/v1/corps/bench/customers/c1/consents", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusBadRequest {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})
}
