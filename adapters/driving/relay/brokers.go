package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wmamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// PartitionKeyMetadata is the message metadata key carrying the ordering
// key (the stream). Kafka routes partition by it.
const PartitionKeyMetadata = "partition_key"

// ErrInProcess is returned by NewPublisher and NewSubscriber for gochannel:
// URLs: the in-process broker lives inside a Relay (Relay.InProcess).
var ErrInProcess = errors.New("relay: gochannel: is in-process; use Relay.InProcess")

// NATSName is the JetStream stream name and subject a topic is published
// under. JetStream stream names may not contain dots, and the watermill
// JetStream publisher publishes to the subject named like the stream, so
// every character outside [A-Za-z0-9_-] becomes "_":
// "custody.customer" → "custody_customer".
func NATSName(topic string) string { return natsUnsafe.ReplaceAllString(topic, "_") }

var natsUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// NewPublisher connects a watermill publisher to the broker rawURL names.
// The caller closes it. Broker-specific behaviour:
//
//   - nats://: JetStream; a file-backed stream per topic (see NATSName) is
//     created when missing; Nats-Msg-Id is the message UUID, so JetStream
//     drops duplicates within its duplicate window.
//   - amqp://: a durable fanout exchange per topic (watermill's durable
//     pub/sub layout), persistent messages, publisher confirms.
//   - redis://: one Redis stream per topic (XADD, no trimming).
//   - postgres://: watermill-sql's table "watermill_<topic>" (created when
//     missing).
//   - kafka://h1:9092,h2:9092: sync producer (acks from all in-sync
//     replicas), partition key = the stream.
func NewPublisher(ctx context.Context, rawURL string, logger watermill.LoggerAdapter) (message.Publisher, error) {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	s, err := scheme(rawURL)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	switch s {
	case "gochannel":
		return nil, ErrInProcess
	case "nats":
		return newNATSPublisher(rawURL, logger)
	case "amqp", "amqps":
		cfg := wmamqp.NewDurablePubSubConfig(rawURL, nil)
		cfg.Publish.ConfirmDelivery = true
		// One channel per concurrent Publish (see Options.Parallelism).
		cfg.Publish.ChannelPoolSize = 8
		p, err := wmamqp.NewPublisher(cfg, logger)
		if err != nil {
			return nil, fmt.Errorf("relay: amqp publisher: %w", redact(err, rawURL))
		}
		return p, nil
	case "redis", "rediss":
		opts, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("relay: redis URL: %w", redact(err, rawURL))
		}
		client := redis.NewClient(opts)
		p, err := redisstream.NewPublisher(redisstream.PublisherConfig{Client: client}, logger)
		if err != nil {
			client.Close()
			return nil, fmt.Errorf("relay: redis publisher: %w", err)
		}
		return &closeAlso{Publisher: p, close: client.Close}, nil
	case "postgres", "postgresql":
		pool, err := pgxpool.New(ctx, rawURL)
		if err != nil {
			return nil, fmt.Errorf("relay: postgres publisher: %w", redact(err, rawURL))
		}
		p, err := wmsql.NewPublisher(wmsql.BeginnerFromPgx(pool), wmsql.PublisherConfig{
			SchemaAdapter:        wmsql.DefaultPostgreSQLSchema{},
			AutoInitializeSchema: true,
		}, logger)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("relay: postgres publisher: %w", err)
		}
		return &closeAlso{Publisher: p, close: func() error { pool.Close(); return nil }}, nil
	case "kafka":
		cfg := kafka.DefaultSaramaSyncPublisherConfig()
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		// One request in flight keeps a partition's order across retries.
		cfg.Net.MaxOpenRequests = 1
		p, err := kafka.NewPublisher(kafka.PublisherConfig{
			Brokers:               kafkaBrokers(rawURL),
			Marshaler:             kafka.NewWithPartitioningMarshaler(partitionKey),
			OverwriteSaramaConfig: cfg,
		}, logger)
		if err != nil {
			return nil, fmt.Errorf("relay: kafka publisher: %w", err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("relay: no publisher for %q", s)
}

func partitionKey(_ string, msg *message.Message) (string, error) {
	return msg.Metadata.Get(PartitionKeyMetadata), nil
}

// kafkaBrokers splits "kafka://h1:9092,h2:9092" into broker addresses.
func kafkaBrokers(raw string) []string {
	rest := raw[strings.Index(raw, "://")+3:]
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	var out []string
	for _, b := range strings.Split(rest, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// redact removes the URL's password from a driver error.
func redact(err error, rawURL string) error {
	u, perr := url.Parse(rawURL)
	if perr != nil || u.User == nil {
		return err
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
}

// closeAlso closes a resource the publisher or subscriber does not own.
type closeAlso struct {
	message.Publisher
	close func() error
}

func (c *closeAlso) Close() error { return errors.Join(c.Publisher.Close(), c.close()) }

// natsPublisher is the watermill JetStream publisher plus stream creation
// and the topic → stream name mapping.
type natsPublisher struct {
	nc  *nats.Conn
	js  natsjs.JetStream
	pub *jetstream.Publisher

	mu      sync.Mutex
	streams map[string]bool
}

func natsConnect(rawURL string) (*nats.Conn, error) {
	nc, err := nats.Connect(rawURL,
		nats.Name("custody-relay"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		// Fail publishes at once while disconnected instead of buffering
		// them for the JetStream ack timeout: the relay retries with its
		// own backoff and keeps its metrics honest.
		nats.ReconnectBufSize(-1),
	)
	if err != nil {
		return nil, fmt.Errorf("relay: nats connect: %w", redact(err, rawURL))
	}
	return nc, nil
}

func newNATSPublisher(rawURL string, logger watermill.LoggerAdapter) (*natsPublisher, error) {
	nc, err := natsConnect(rawURL)
	if err != nil {
		return nil, err
	}
	js, err := natsjs.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("relay: jetstream: %w", err)
	}
	pub, err := jetstream.NewPublisher(jetstream.PublisherConfig{
		Conn:            nc,
		Logger:          logger,
		ConfigureStream: natsStreamConfig,
		TrackMessageID:  true,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("relay: jetstream publisher: %w", err)
	}
	return &natsPublisher{nc: nc, js: js, pub: pub, streams: map[string]bool{}}, nil
}

func natsStreamConfig(topic string) natsjs.StreamConfig {
	n := NATSName(topic)
	return natsjs.StreamConfig{Name: n, Subjects: []string{n}, Storage: natsjs.FileStorage}
}

// ensureStream creates the topic's stream unless it exists; an existing
// stream keeps the configuration its operator gave it.
func ensureNATSStream(ctx context.Context, js natsjs.JetStream, topic string) error {
	cfg := natsStreamConfig(topic)
	if _, err := js.Stream(ctx, cfg.Name); err == nil {
		return nil
	} else if !errors.Is(err, natsjs.ErrStreamNotFound) {
		return fmt.Errorf("relay: jetstream stream %s: %w", cfg.Name, err)
	}
	if _, err := js.CreateStream(ctx, cfg); err != nil && !errors.Is(err, natsjs.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("relay: create jetstream stream %s: %w", cfg.Name, err)
	}
	return nil
}

func (p *natsPublisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	known := p.streams[topic]
	p.mu.Unlock()
	if !known {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := ensureNATSStream(ctx, p.js, topic)
		cancel()
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.streams[topic] = true
		p.mu.Unlock()
	}
	return p.pub.Publish(topic, msgs...)
}

func (p *natsPublisher) Close() error { return p.pub.Close() }

// SubscriberOptions configure NewSubscriber.
type SubscriberOptions struct {
	// Group is the consumer group (durable queue, Redis/SQL/Kafka consumer
	// group). Empty means a private, throw-away subscription.
	Group string
	// Logger receives watermill's logs; none when nil.
	Logger watermill.LoggerAdapter
	// AckWait is how long NATS JetStream waits for an Ack before it
	// delivers a message again (default 30s). Messages a closed subscriber
	// had fetched but not acknowledged come back to the group after it.
	AckWait time.Duration
}

// NewSubscriber connects a watermill subscriber that reads what a route
// with the same URL publishes, for `custody subscribe`, tests and Go
// consumers. Subscribe's topic is the route's topic name (NATS names are
// mapped with NATSName). Where the broker keeps history (JetStream, Redis
// Streams, SQL, Kafka with a new group) a new subscription starts at the
// oldest stored message; on RabbitMQ it starts when its queue is declared.
func NewSubscriber(ctx context.Context, rawURL string, opts SubscriberOptions) (message.Subscriber, error) {
	logger := opts.Logger
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	s, err := scheme(rawURL)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	switch s {
	case "gochannel":
		return nil, ErrInProcess
	case "nats":
		nc, err := natsConnect(rawURL)
		if err != nil {
			return nil, err
		}
		js, err := natsjs.New(nc)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("relay: jetstream: %w", err)
		}
		init := jetstream.EphemeralConsumer()
		if opts.Group != "" {
			init = durableNATSConsumer(opts.Group, cmp.Or(opts.AckWait, 30*time.Second))
		}
		sub, err := jetstream.NewSubscriber(jetstream.SubscriberConfig{
			Conn:                nc,
			Logger:              logger,
			ConfigureStream:     natsStreamConfig,
			ResourceInitializer: init,
			AckWaitTimeout:      cmp.Or(opts.AckWait, 30*time.Second),
		})
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("relay: jetstream subscriber: %w", err)
		}
		return &natsSubscriber{sub: sub, js: js}, nil
	case "amqp", "amqps":
		group := opts.Group
		cfg := wmamqp.NewDurablePubSubConfig(rawURL, wmamqp.GenerateQueueNameTopicNameWithSuffix(group))
		if group == "" {
			cfg = wmamqp.NewDurablePubSubConfig(rawURL, wmamqp.GenerateQueueNameTopicNameWithSuffix(watermill.NewShortUUID()))
			cfg.Queue.Durable = false
			cfg.Queue.AutoDelete = true
			cfg.Queue.Exclusive = true
		}
		cfg.Consume.Qos.PrefetchCount = 256
		sub, err := wmamqp.NewSubscriber(cfg, logger)
		if err != nil {
			return nil, fmt.Errorf("relay: amqp subscriber: %w", redact(err, rawURL))
		}
		return sub, nil
	case "redis", "rediss":
		ropts, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("relay: redis URL: %w", redact(err, rawURL))
		}
		client := redis.NewClient(ropts)
		group := opts.Group
		if group == "" {
			group = "custody-" + watermill.NewShortUUID()
		}
		sub, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
			Client:        client,
			ConsumerGroup: group,
			OldestId:      "0",
		}, logger)
		if err != nil {
			client.Close()
			return nil, fmt.Errorf("relay: redis subscriber: %w", err)
		}
		return &subCloseAlso{Subscriber: sub, close: client.Close}, nil
	case "postgres", "postgresql":
		pool, err := pgxpool.New(ctx, rawURL)
		if err != nil {
			return nil, fmt.Errorf("relay: postgres subscriber: %w", redact(err, rawURL))
		}
		group := opts.Group
		if group == "" {
			group = "custody-" + watermill.NewShortUUID()
		}
		sub, err := wmsql.NewSubscriber(wmsql.BeginnerFromPgx(pool), wmsql.SubscriberConfig{
			ConsumerGroup:    group,
			SchemaAdapter:    wmsql.DefaultPostgreSQLSchema{},
			OffsetsAdapter:   wmsql.DefaultPostgreSQLOffsetsAdapter{},
			InitializeSchema: true,
			PollInterval:     100 * time.Millisecond,
		}, logger)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("relay: postgres subscriber: %w", err)
		}
		return &subCloseAlso{Subscriber: sub, close: func() error { pool.Close(); return nil }}, nil
	case "kafka":
		cfg := kafka.DefaultSaramaSubscriberConfig()
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		group := opts.Group
		if group == "" {
			group = "custody-" + watermill.NewShortUUID()
		}
		sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{
			Brokers:               kafkaBrokers(rawURL),
			Unmarshaler:           kafka.NewWithPartitioningMarshaler(partitionKey),
			OverwriteSaramaConfig: cfg,
			ConsumerGroup:         group,
		}, logger)
		if err != nil {
			return nil, fmt.Errorf("relay: kafka subscriber: %w", err)
		}
		return sub, nil
	}
	return nil, fmt.Errorf("relay: no subscriber for %q", s)
}

// durableNATSConsumer is a durable pull consumer named after the group, so
// a restarted consumer resumes where it acknowledged.
func durableNATSConsumer(group string, ackWait time.Duration) jetstream.ResourceInitializer {
	return func(ctx context.Context, js natsjs.JetStream, topic string) (natsjs.Consumer, func(context.Context, watermill.LoggerAdapter), error) {
		stream, err := js.Stream(ctx, topic)
		if err != nil {
			return nil, nil, fmt.Errorf("jetstream stream %s: %w", topic, err)
		}
		name := NATSName(group + "__" + topic)
		c, err := stream.CreateOrUpdateConsumer(ctx, natsjs.ConsumerConfig{
			Name: name, Durable: name, AckPolicy: natsjs.AckExplicitPolicy, AckWait: ackWait,
		})
		return c, nil, err
	}
}

type natsSubscriber struct {
	sub *jetstream.Subscriber
	js  natsjs.JetStream
}

func (s *natsSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := ensureNATSStream(ctx, s.js, topic); err != nil {
		return nil, err
	}
	return s.sub.Subscribe(ctx, NATSName(topic))
}

func (s *natsSubscriber) Close() error { return s.sub.Close() }

type subCloseAlso struct {
	message.Subscriber
	close func() error
}

func (c *subCloseAlso) Close() error { return errors.Join(c.Subscriber.Close(), c.close()) }
