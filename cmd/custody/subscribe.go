package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/adapters/driving/relay/cloudevents"
)

// runSubscribe implements `custody subscribe [flags] URL TOPIC`.
func runSubscribe(ctx context.Context, args []string) error {
	return subscribe(ctx, args, os.Stdout, os.Stderr)
}

func subscribe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("subscribe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	group := fs.String("group", "", "consumer group / durable queue to join (default: a private, throw-away subscription)")
	format := fs.String("format", "json", "output: json (one CloudEvent per line) or text (one summary line per event)")
	limit := fs.Int("n", 0, "exit after this many messages (0: until interrupted)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: custody subscribe [flags] URL TOPIC

Tails TOPIC on the broker at URL and prints every event the relay published
there, for consumers debugging their side. URL schemes: nats://, amqp://,
redis://, postgres://, kafka:// (as in the relay's routes). Topics are
"custody.<category>" by default (custody.customer, custody.handover, ...).
Where the broker keeps history (NATS JetStream, Redis, PostgreSQL, Kafka) a
new subscription starts at the oldest stored message; on RabbitMQ at the
moment it subscribes.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errUsage
	}
	if *format != "json" && *format != "text" {
		fmt.Fprintf(stderr, "custody subscribe: -format must be json or text\n")
		return errUsage
	}
	url, topic := fs.Arg(0), fs.Arg(1)
	sub, err := relay.NewSubscriber(ctx, url, relay.SubscriberOptions{Group: *group})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", topic, err)
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-msgs:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("subscribe: the broker closed the subscription")
			}
			printMessage(out, stderr, *format, msg.UUID, msg.Payload)
			msg.Ack()
			if err := out.Flush(); err != nil {
				return fmt.Errorf("subscribe: write: %w", err)
			}
			n++
			if *limit > 0 && n >= *limit {
				return nil
			}
		}
	}
}

func printMessage(out *bufio.Writer, stderr io.Writer, format, uuid string, payload []byte) {
	ev, err := cloudevents.Unmarshal(payload)
	if err != nil {
		// Not ours, or damaged: show it rather than hide it.
		fmt.Fprintf(stderr, "custody subscribe: message %s is not a custody CloudEvent: %v\n", uuid, err)
		if format == "json" {
			fmt.Fprintf(out, "%s\n", strings.TrimSpace(string(payload)))
		}
		return
	}
	if format == "json" {
		fmt.Fprintf(out, "%s\n", strings.TrimSpace(string(payload)))
		return
	}
	fmt.Fprintf(out, "%s  %-28s %s v%d  id=%s  %s\n",
		ev.Time.Format("2006-01-02T15:04:05Z07:00"), ev.Type, ev.Subject, ev.StreamVersion, ev.ID, ev.Data)
}
