package relay

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestKafkaBrokers(t *testing.T) {
	for in, want := range map[string][]string{
		"kafka://k1:9092":                      {"k1:9092"},
		"kafka://k1:9092,k2:9092, k3:9093/":    {"k1:9092", "k2:9092", "k3:9093"},
		"kafka://k1:9092?client_id=custody":    {"k1:9092"},
		"kafka://[::1]:9092,10.0.0.2:9092/x/y": {"[::1]:9092", "10.0.0.2:9092"},
	} {
		if got := kafkaBrokers(in); !slices.Equal(got, want) {
			t.Errorf("kafkaBrokers(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	err := redact(errors.New("dial amqp://guest:s3cret@host: refused"), "amqp://guest:s3cret@host:5672/")
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("password kept: %v", err)
	}
	if got := redactURL("postgres://u:s3cret@db/custody"); strings.Contains(got, "s3cret") {
		t.Errorf("redactURL kept the password: %s", got)
	}
}

func TestShardIsStable(t *testing.T) {
	counts := make([]int, 4)
	for i := range 1000 {
		s := "customer-corp1-c" + string(rune('a'+i%26)) + strings.Repeat("x", i%7)
		w := shard(s, 4)
		if w != shard(s, 4) {
			t.Fatal("shard is not a function of the stream")
		}
		counts[w]++
	}
	for w, n := range counts {
		if n == 0 {
			t.Errorf("worker %d never used: %v", w, counts)
		}
	}
}
