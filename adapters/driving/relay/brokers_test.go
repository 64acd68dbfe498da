package relay_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/adapters/driving/relay/cloudevents"
	"github.com/custody/custody/adapters/testkit/pgtest"
	"github.com/custody/custody/events"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

var (
	natsURL  = envOr("RELAY_NATS_URL", "nats://127.0.0.1:4222")
	amqpURL  = envOr("RELAY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
	redisURL = envOr("RELAY_REDIS_URL", "redis://127.0.0.1:6379/0")
)

// reachable skips the test, naming the broker, when nothing answers at
// rawURL's host.
func reachable(t testing.TB, name, rawURL string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Skipf("%s not reachable at %s: %v", name, u.Redacted(), err)
	}
	c.Close()
}

// natsBroker checks that JetStream answers and returns the broker.
func natsBroker(t testing.TB) broker {
	t.Helper()
	reachable(t, "NATS JetStream", natsURL)
	nc, err := nats.Connect(natsURL, nats.Timeout(2*time.Second))
	if err != nil {
		t.Skipf("NATS JetStream not reachable at %s: %v", natsURL, err)
	}
	js, err := natsjs.New(nc)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = js.AccountInfo(ctx)
		cancel()
	}
	if err != nil {
		nc.Close()
		t.Skipf("NATS JetStream not reachable at %s (JetStream disabled?): %v", natsURL, err)
	}
	t.Cleanup(nc.Close)
	return broker{
		url: natsURL,
		subscriber: func(t testing.TB) message.Subscriber {
			return newSubscriber(t, natsURL)
		},
		cleanup: func(t testing.TB, route relay.Route) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, cat := range scenarioCategories {
				err := js.DeleteStream(ctx, relay.NATSName(route.Topic(cat+".x")))
				if err != nil && !errors.Is(err, natsjs.ErrStreamNotFound) {
					t.Logf("delete stream: %v", err)
				}
			}
		},
	}
}

func amqpBroker(t testing.TB) broker {
	t.Helper()
	reachable(t, "RabbitMQ", amqpURL)
	conn, err := amqp091.Dial(amqpURL)
	if err != nil {
		t.Skipf("RabbitMQ not reachable at %s: %v", amqpURL, err)
	}
	t.Cleanup(func() { conn.Close() })
	return broker{
		url:        amqpURL,
		subscriber: func(t testing.TB) message.Subscriber { return newSubscriber(t, amqpURL) },
		cleanup: func(t testing.TB, route relay.Route) {
			ch, err := conn.Channel()
			if err != nil {
				return
			}
			defer ch.Close()
			for _, cat := range scenarioCategories {
				_ = ch.ExchangeDelete(route.Topic(cat+".x"), false, false)
			}
		},
	}
}

func redisBroker(t testing.TB) broker {
	t.Helper()
	reachable(t, "Redis", redisURL)
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	if err := client.Ping(context.Background()).Err(); err != nil {
		t.Skipf("Redis not reachable at %s: %v", redisURL, err)
	}
	return broker{
		url:        redisURL,
		subscriber: func(t testing.TB) message.Subscriber { return newSubscriber(t, redisURL) },
		cleanup: func(t testing.TB, route relay.Route) {
			for _, cat := range scenarioCategories {
				client.Del(context.Background(), route.Topic(cat+".x"))
			}
		},
	}
}

// postgresBroker publishes into a fresh database of the test server, as
// watermill-sql tables.
func postgresBroker(t testing.TB) broker {
	t.Helper()
	u := pgtest.NewDatabase(t)
	return broker{
		url:        u,
		subscriber: func(t testing.TB) message.Subscriber { return newSubscriber(t, u) },
	}
}

func newSubscriber(t testing.TB, rawURL string) message.Subscriber {
	t.Helper()
	sub, err := relay.NewSubscriber(context.Background(), rawURL, relay.SubscriberOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return sub
}

func TestDeliveryNATSJetStream(t *testing.T) { deliveryScenario(t, natsBroker(t)) }

func TestDeliveryRabbitMQ(t *testing.T) { deliveryScenario(t, amqpBroker(t)) }

func TestDeliveryRedisStreams(t *testing.T) { deliveryScenario(t, redisBroker(t)) }

func TestDeliveryPostgreSQL(t *testing.T) { deliveryScenario(t, postgresBroker(t)) }

// kafkaBroker is the Kafka cluster named by KAFKA_BROKERS (host:port[,...])
// or, when none is named, franz-go's in-process kfake cluster: a
// Kafka-protocol broker in this test process (a Kafka server cannot run
// on this machine), spoken to by the relay's real sarama client over TCP.
func kafkaBroker(t testing.TB) broker {
	t.Helper()
	brokers := strings.TrimSpace(os.Getenv("KAFKA_BROKERS"))
	if brokers == "" {
		c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(4))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		brokers = strings.Join(c.ListenAddrs(), ",")
	}
	u := "kafka://" + brokers
	return broker{
		url:        u,
		subscriber: func(t testing.TB) message.Subscriber { return newSubscriber(t, u) },
	}
}

func TestDeliveryKafka(t *testing.T) { deliveryScenario(t, kafkaBroker(t)) }

// A NATS consumer group is durable: a second subscriber of the group
// resumes after what the first acknowledged.
func TestNATSGroupResumes(t *testing.T) {
	b := natsBroker(t)
	ctx := context.Background()
	route := relay.Route{Name: "g", Topics: map[string]string{"*": uniqueName("group")}}
	topic := route.Topic("x")
	t.Cleanup(func() {
		nc, err := nats.Connect(natsURL)
		if err == nil {
			js, _ := natsjs.New(nc)
			_ = js.DeleteStream(context.Background(), relay.NATSName(topic))
			nc.Close()
		}
	})
	pub, err := relay.NewPublisher(ctx, b.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			m, err := relay.NewMessage(recordedForTest(t, i), false)
			if err != nil {
				t.Fatal(err)
			}
			if err := pub.Publish(topic, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	receiveUntil := func(done func(map[int64]bool) bool) []int64 {
		sub, err := relay.NewSubscriber(ctx, b.url, relay.SubscriberOptions{Group: "crm", AckWait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch, err := sub.Subscribe(sctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		seen := map[int64]bool{}
		for !done(seen) {
			select {
			case m := <-ch:
				ce, err := cloudevents.Unmarshal(m.Payload)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, ce.StreamVersion)
				seen[ce.StreamVersion] = true
				m.Ack()
			case <-time.After(waitLimit):
				t.Fatalf("received %v", got)
			}
		}
		return got
	}
	receive := func(n int) []int64 {
		return receiveUntil(func(seen map[int64]bool) bool { return len(seen) >= n })
	}
	publish(0, 3)
	if got := receive(3); got[0] != 0 || got[2] != 2 {
		t.Fatalf("first subscriber got versions %v", got)
	}
	publish(3, 5)
	// The first subscriber may have fetched (not acknowledged) the newest
	// messages while closing; the group gets them again after AckWait.
	got := map[int64]bool{}
	for _, v := range receiveUntil(func(seen map[int64]bool) bool { return seen[3] && seen[4] }) {
		got[v] = true
	}
	if got[0] || got[1] {
		t.Fatalf("the group received acknowledged messages again: %v", got)
	}
}

func recordedForTest(t testing.TB, v int) events.Recorded {
	ev := scenarioEvent(t, "corp1", "c1", 1)
	return events.Recorded{Event: ev, Stream: "customer-corp1-c1", StreamVersion: int64(v), Position: events.Position{Commit: uint64(v + 1), Prepare: 1}}
}
