package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/custody/custody/adapters/driving/relay"
	"github.com/custody/custody/adapters/driving/relay/cloudevents"
	"github.com/custody/custody/events"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

func TestSubscribePrintsEvents(t *testing.T) {
	const redisURL = "redis://127.0.0.1:6379/0"
	if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", 2*time.Second); err != nil {
		t.Skipf("Redis not reachable at 127.0.0.1:6379: %v", err)
	} else {
		c.Close()
	}
	ctx := context.Background()
	topic := "custody_cli_test_" + watermill.NewShortUUID()
	opts, _ := redis.ParseURL(redisURL)
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Del(ctx, topic); client.Close() })

	pub, err := relay.NewPublisher(ctx, redisURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var ids []string
	for i := range 3 {
		ev, err := events.New(uuid.Must(uuid.NewV7()), events.Meta{CorpID: "corp1", OccurredAt: time.Date(2026, 11, 1, 8, 0, i, 0, time.UTC), Actor: "system"},
			&events.MomentsOptedOut{CustomerID: "c1", StaffID: "s1"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := cloudevents.Marshal(events.Recorded{Event: ev, Stream: "customer-corp1-c1", StreamVersion: int64(i)}, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(topic, message.NewMessage(ev.ID.String(), b)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID.String())
	}
	if err := pub.Publish(topic, message.NewMessage(uuid.NewString(), []byte("not an event"))); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	if err := subscribe(ctx, []string{"-format", "text", "-n", "4", redisURL, topic}, &out, &errOut); err != nil {
		t.Fatalf("subscribe: %v (%s)", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("printed %d lines, want 3:\n%s", len(lines), out.String())
	}
	for i, l := range lines {
		if !strings.Contains(l, "moments.opted_out") || !strings.Contains(l, "id="+ids[i]) || !strings.Contains(l, "customer-corp1-c1 v") {
			t.Errorf("line %d: %s", i, l)
		}
	}
	if !strings.Contains(errOut.String(), "is not a custody CloudEvent") {
		t.Errorf("a foreign message went unreported: %q", errOut.String())
	}

	if err := subscribe(ctx, []string{redisURL}, &out, &errOut); !errors.Is(err, errUsage) {
		t.Errorf("missing topic: %v, want errUsage", err)
	}
}
