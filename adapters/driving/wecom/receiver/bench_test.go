package receiver_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/callback"
)

// sealedCallbacks prepares n distinct signed callbacks, as WeCom sends them.
func sealedCallbacks(b *testing.B, c *callback.Crypto, n int, now time.Time) []preparedCallback {
	b.Helper()
	out := make([]preparedCallback, n)
	ts := fmt.Sprint(now.Unix())
	for i := range out {
		nonce := fmt.Sprint(i)
		s, err := c.Seal([]byte(addEvent(fmt.Sprintf("wmBENCH%07d", i), now.Unix())), ts, nonce, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		q := url.Values{"msg_signature": {s.Signature}, "timestamp": {ts}, "nonce": {nonce}}
		out[i] = preparedCallback{query: q.Encode(), body: s.Body}
	}
	return out
}

type preparedCallback struct {
	query string
	body  []byte
}

// BenchmarkCallbacksVsInsert measures stored callbacks per second through
// the real receiver (HTTP on loopback, signature check, decryption, XML
// parsing, one durable INSERT … ON CONFLICT into the inbox) at 16 clients,
// alternating with a baseline of plain one-row INSERT transactions of the
// same payload into a table of the same shape from 16 clients on the same
// database. Reported: callbacks/s, inserts/s and their ratio (%).
//
//	go test ./adapters/driving/wecom/receiver -run '^$' -bench CallbacksVsInsert -benchtime 1x
func BenchmarkCallbacksVsInsert(b *testing.B) {
	const clients, perRound, rounds = 16, 4000, 3
	now := time.Now().UTC()
	f := newFixture(b, now)
	c := f.crypto(b, sampleToken, sampleAESKey, sampleCorpID)
	ctx := context.Background()
	if _, err := f.pool.Exec(ctx, `CREATE TABLE bench_inbox (LIKE wecom.inbox INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var cbRate, insRate []float64
	for round := range rounds {
		cbs := sealedCallbacks(b, c, perRound, now)
		start := time.Now()
		runClients(b, clients, perRound, func(i int) error {
			cb := cbs[i]
			resp, err := client.Post(f.srv.URL+"/wecom/callback/acme?"+cb.query, "text/xml", bytes.NewReader(cb.body))
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})
		cbRate = append(cbRate, perRound/time.Since(start).Seconds())

		start = time.Now()
		runClients(b, clients, perRound, func(i int) error {
			_, err := f.pool.Exec(ctx, `INSERT INTO bench_inbox (corp_id, dedup_key, kind, subject, create_time, payload)
				VALUES ('acme', $1, 'change_external_contact/add_external_contact', $2, now(), $3)
				ON CONFLICT (corp_id, dedup_key) DO UPDATE SET deliveries = bench_inbox.deliveries + 1`,
				fmt.Sprintf("r%d-%d", round, i), fmt.Sprintf("customer:wm%d", i), []byte(addEvent("wm", now.Unix())))
			return err
		})
		insRate = append(insRate, perRound/time.Since(start).Seconds())
		b.Logf("round %d: %.0f callbacks/s, %.0f inserts/s (%.0f %%)", round+1, cbRate[round], insRate[round], 100*cbRate[round]/insRate[round])
	}
	cb, ins := median(cbRate), median(insRate)
	b.ReportMetric(cb, "callbacks/s")
	b.ReportMetric(ins, "inserts/s")
	b.ReportMetric(100*cb/ins, "%_of_insert")
}

// BenchmarkAckLatency paces 1,000 callbacks per second (16 senders) for a
// few seconds and reports the p50/p99/max time from sending a callback to
// WeCom's answer — the figure WeCom's 5-second limit applies to.
//
//	go test ./adapters/driving/wecom/receiver -run '^$' -bench AckLatency -benchtime 1x
func BenchmarkAckLatency(b *testing.B) {
	const rate, seconds, clients = 1000, 5, 16
	now := time.Now().UTC()
	f := newFixture(b, now)
	cbs := sealedCallbacks(b, f.crypto(b, sampleToken, sampleAESKey, sampleCorpID), rate*seconds, now)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	lat := make([]time.Duration, len(cbs))
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	work := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range clients * 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				start := time.Now()
				resp, err := client.Post(f.srv.URL+"/wecom/callback/acme?"+cbs[i].query, "text/xml", bytes.NewReader(cbs[i].body))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				lat[i] = time.Since(start)
			}
		}()
	}
	begin := time.Now()
	for i := range cbs {
		<-tick.C
		work <- i
	}
	close(work)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d callbacks not acknowledged", n)
	}
	achieved := float64(len(cbs)) / time.Since(begin).Seconds()
	slices.Sort(lat)
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(achieved, "callbacks/s")
	b.ReportMetric(p(0.5), "p50_ms")
	b.ReportMetric(p(0.99), "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
}

func runClients(b *testing.B, clients, n int, do func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := do(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
