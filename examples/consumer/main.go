// Command consumer is a minimal marketing-tool consumer of custody's event
// stream: it joins a consumer group on a topic the relay publishes to,
// decodes each CloudEvent into its typed payload, drops duplicates and
// reacts to a few event types.
//
//	go run ./examples/consumer -url nats://127.0.0.1:4222 -topic custody.customer -group crm-sync
//
// Delivery is at least once and ordered per stream (the CloudEvent
// subject) within a topic, so a consumer deduplicates by remembering, per
// topic and stream, the highest stream version it has handled: anything at
// or below it was seen before on that topic. The topic is part of the key
// because one stream's events are spread over several topics (a customer
// stream feeds custody.customer, custody.handover, custody.moments, ...),
// and the topics are not ordered against each other. (Remembering event
// ids works too, but needs a bounded cache; it is the way when one event
// can reach you on two topics, e.g. from two routes.)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/adapters/driving/relay/cloudevents"
	"github.com/custody/custody/events"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	url := flag.String("url", "nats://127.0.0.1:4222", "broker URL, as in the relay route")
	topic := flag.String("topic", "custody.customer", "topic to consume")
	group := flag.String("group", "example-consumer", "consumer group: restarts resume where it acknowledged")
	flag.Parse()

	sub, err := relay.NewSubscriber(ctx, *url, relay.SubscriberOptions{Group: *group})
	if err != nil {
		return err
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, *topic)
	if err != nil {
		return err
	}
	// In production keep this in your own database, updated in the same
	// transaction as the side effect, so a crash cannot separate them.
	handled := map[streamKey]int64{} // (topic, stream) → highest stream version handled
	for msg := range msgs {
		if err := handle(*topic, msg.Payload, handled); err != nil {
			// A poison message would block the stream forever if nacked;
			// log it and move on (or park it somewhere for a human).
			slog.Error("skipping undecodable message", "message_id", msg.UUID, "err", err)
		}
		msg.Ack()
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("subscription closed by the broker")
}

// streamKey is what a stream version is compared within: one topic's
// share of one stream.
type streamKey struct{ topic, stream string }

func handle(topic string, payload []byte, handled map[streamKey]int64) error {
	ce, err := cloudevents.Unmarshal(payload)
	if err != nil {
		return err
	}
	key := streamKey{topic, ce.Subject}
	if last, ok := handled[key]; ok && ce.StreamVersion <= last {
		return nil // a duplicate: at-least-once delivery
	}
	rec, err := ce.Recorded()
	if err != nil {
		return err
	}
	p, err := events.DecodeRecorded(rec)
	if err != nil {
		// A type or schema version newer than this consumer was built
		// with: upgrade the custody module to read it.
		return err
	}
	switch e := p.(type) {
	case *events.CustomerRelationStarted:
		fmt.Printf("%s: customer %s now followed by %s (channel %q)\n", ce.Time.Format("2006-01-02 15:04"), e.CustomerID, e.StaffID, e.State)
	case *events.CustomerRelationEnded:
		fmt.Printf("%s: customer %s no longer followed by %s (%s)\n", ce.Time.Format("2006-01-02 15:04"), e.CustomerID, e.StaffID, e.Reason)
	case *events.MomentsOptedOut:
		fmt.Printf("%s: exclude customer %s from %s's moments audience\n", ce.Time.Format("2006-01-02 15:04"), e.CustomerID, e.StaffID)
	case *events.ConsentRecorded:
		fmt.Printf("%s: customer %s consent for %s is now %s\n", ce.Time.Format("2006-01-02 15:04"), e.CustomerID, e.Purpose, e.State)
	default:
		fmt.Printf("%s: %s on %s\n", ce.Time.Format("2006-01-02 15:04"), ce.Type, ce.Subject)
	}
	handled[key] = ce.StreamVersion
	return nil
}
