package relay_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/events"
	"github.com/custody/custody/events/eventlog"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// benchCorpus is a log of benchEvents events in pgstore, written once per
// benchmark binary.
type benchCorpus struct {
	log  eventlog.EventLog
	pool *pgxpool.Pool
	recs []events.Recorded
	head events.Position
}

const benchEvents = 20000

// quietLogger keeps the relay's info logs out of benchmark output.
var quietLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// loadCorpus writes the corpus into a database that lives as long as b.
func loadCorpus(b *testing.B) *benchCorpus {
	ctx := context.Background()
	log, pool := newLog(b)
	_ = writeConcurrently(ctx, b, log, "corp1", 8, benchEvents, 10, 10)
	recs, err := log.ReadAll(ctx, events.Start, benchEvents+1)
	if err != nil || len(recs) != benchEvents {
		b.Fatalf("corpus: %d events, %v", len(recs), err)
	}
	head, _ := log.Head(ctx)
	return &benchCorpus{log: log, pool: pool, recs: recs, head: head}
}

// BenchmarkThroughput publishes the same 20,000 events to NATS JetStream
// and RabbitMQ twice: with the bare watermill publisher (messages encoded
// up front, published one by one waiting for each ack — the baseline) and
// through the relay (reading the log from pgstore, encoding, publishing,
// checkpointing). Reported: events/s.
//
//	go test -run '^$' -bench 'Throughput|Latency' -benchtime 3x ./adapters/driving/relay/
func BenchmarkThroughput(b *testing.B) {
	c := loadCorpus(b)
	for _, bk := range []struct {
		name string
		b    func(testing.TB) broker
	}{{"nats", natsBroker}, {"rabbitmq", amqpBroker}} {
		b.Run(bk.name+"/bare-watermill", func(b *testing.B) {
			br := bk.b(b)
			route := relay.Route{Name: "bench", TopicPrefix: uniqueName("bench")}
			msgs := make([]*message.Message, len(c.recs))
			topics := make([]string, len(c.recs))
			for i, r := range c.recs {
				m, err := relay.NewMessage(r, false)
				if err != nil {
					b.Fatal(err)
				}
				msgs[i] = m
				topics[i] = route.Topic(r.Type)
			}
			pub, err := relay.NewPublisher(context.Background(), br.url, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer pub.Close()
			b.Cleanup(func() { br.cleanup(b, route) })
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				for i, m := range msgs {
					// A fresh UUID per round, so JetStream's duplicate
					// window does not swallow the later rounds.
					m.UUID = uuid.NewString()
					if err := pub.Publish(topics[i], m); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*len(msgs))/time.Since(start).Seconds(), "events/s")
		})
		for _, par := range []int{4, 1} {
			name := bk.name + "/relay"
			if par != 4 {
				name = fmt.Sprintf("%s/relay-parallelism%d", bk.name, par)
			}
			b.Run(name, func(b *testing.B) {
				br := bk.b(b)
				b.ResetTimer()
				var elapsed time.Duration
				for range b.N {
					b.StopTimer()
					route := relay.Route{Name: uniqueName("bench"), URL: br.url, TopicPrefix: uniqueName("bench")}
					b.Cleanup(func() { br.cleanup(b, route) })
					r, err := relay.New(relay.Options{Log: c.log, Pool: c.pool, Routes: []relay.Route{route}, Logger: quietLogger, Parallelism: par})
					if err != nil {
						b.Fatal(err)
					}
					ctx, cancel := context.WithCancel(context.Background())
					done := make(chan error, 1)
					b.StartTimer()
					start := time.Now()
					go func() { done <- r.Run(ctx) }()
					for r.Status()[0].Position.Less(c.head) {
						time.Sleep(time.Millisecond) // polling a condition
					}
					elapsed += time.Since(start)
					b.StopTimer()
					cancel()
					<-done
					b.StartTimer()
				}
				b.ReportMetric(float64(b.N*len(c.recs))/elapsed.Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkLatency appends 1,000 events/s for benchLatencyEvents events
// while a relay publishes them and a subscriber receives them; reported:
// append-to-receive latency p50 and p99 in ms.
func BenchmarkLatency(b *testing.B) {
	for _, bk := range []struct {
		name string
		b    func(testing.TB) broker
	}{{"nats", natsBroker}, {"rabbitmq", amqpBroker}} {
		b.Run(bk.name, func(b *testing.B) {
			br := bk.b(b)
			var lat []time.Duration
			rates := 0.0
			for range b.N {
				// A fresh log per round: a new route would otherwise
				// replay the previous rounds first.
				log, pool := newLog(b)
				l, rate := latencyRound(b, br, log, pool)
				lat = append(lat, l...)
				rates += rate
			}
			b.ReportMetric(rates/float64(b.N), "appends/s")
			slices.Sort(lat)
			ms := func(q float64) float64 {
				return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(ms(0.50), "p50_ms")
			b.ReportMetric(ms(0.99), "p99_ms")
			b.ReportMetric(ms(1), "max_ms")
		})
	}
}

const benchLatencyEvents = 5000

// latencyRound returns the latencies and the append rate achieved.
func latencyRound(b *testing.B, br broker, log eventlog.EventLog, pool *pgxpool.Pool) ([]time.Duration, float64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	route := relay.Route{Name: uniqueName("lat"), URL: br.url, Topics: map[string]string{"*": uniqueName("lat")}}
	b.Cleanup(func() { br.cleanup(b, route) })
	sub := br.subscriber(b)
	ch, err := sub.Subscribe(ctx, route.Topic("x"))
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	sent := map[string]time.Time{}
	got := make([]time.Duration, 0, benchLatencyEvents)
	done := make(chan struct{})
	go func() {
		for m := range ch {
			now := time.Now()
			mu.Lock()
			if t0, ok := sent[m.UUID]; ok {
				got = append(got, now.Sub(t0))
				delete(sent, m.UUID)
				if len(got) == benchLatencyEvents {
					close(done)
				}
			}
			mu.Unlock()
			m.Ack()
		}
	}()
	r, err := relay.New(relay.Options{Log: log, Pool: pool, Routes: []relay.Route{route}, Logger: quietLogger})
	if err != nil {
		b.Fatal(err)
	}
	rdone := make(chan error, 1)
	go func() { rdone <- r.Run(ctx) }()
	defer func() { cancel(); <-rdone }()
	// Four writers at 250 events/s each: 1,000 events/s even when one
	// append takes longer than a millisecond.
	const writers = 4
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(writers * time.Millisecond)
			defer tick.Stop()
			for i := w; i < benchLatencyEvents; i += writers {
				<-tick.C
				customer := fmt.Sprintf("lat%d", i%500)
				ev := scenarioEvent(b, "corp1", customer, 1+i/500)
				mu.Lock()
				sent[ev.ID.String()] = time.Now()
				mu.Unlock()
				if _, err := log.Append(ctx, events.CustomerStream("corp1", customer), eventlog.ExpectAny, ev); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rate := float64(benchLatencyEvents) / time.Since(start).Seconds()
	select {
	case <-done:
	case <-time.After(waitLimit):
		b.Fatalf("only %d of %d events arrived", len(got), benchLatencyEvents)
	}
	return got, rate
}
