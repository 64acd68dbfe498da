// Package relay publishes custody's event log to message brokers through
// watermill: NATS JetStream (nats://), RabbitMQ (amqp://), Redis Streams
// (redis://), PostgreSQL tables for consumers that poll SQL (postgres://),
// Kafka (kafka://) and, as the embedded default, an in-process gochannel
// (gochannel:).
//
// A Relay runs one or more routes. Each route follows the log with
// EventLog.Subscribe from its own checkpoint in PostgreSQL (table
// relay_checkpoints, see Migrate), filters by corp and event type, encodes
// each event as a CloudEvent (see package cloudevents) and publishes it.
//
// Delivery contract, per route:
//
//   - At least once. The checkpoint moves only past events the broker
//     acknowledged (watermill's Publish returned nil: a JetStream PubAck, an
//     AMQP publisher confirm, a Redis XADD reply, a committed INSERT, a Kafka
//     sync-producer ack). After a crash the relay publishes again from the
//     checkpoint, so consumers may see an event twice — always with the same
//     message UUID, which is the event id: deduplicate on it.
//   - Ordered per stream. All events of a stream go through one of the
//     route's Options.Parallelism publishing workers, which publishes them
//     one at a time in log order, waiting for each acknowledgement before
//     the next; so within a topic every stream's events arrive in stream
//     order. Different streams are published concurrently, and the
//     checkpoint only passes an event once it and everything before it in
//     the log were acknowledged. The ordering key travels as the message
//     metadata "partition_key" (= the stream); Kafka partitions by it.
//   - No skipping. A failed publish is retried with exponential backoff (the
//     metric custody_relay_retries_total counts them) until it succeeds or
//     the relay stops. Meanwhile the stream's later events wait behind it
//     and the checkpoint stays before it; other streams may go on, at most
//     1,024 events ahead.
//
// Only one process runs a route at a time: a route holds a PostgreSQL
// advisory lock on its name while it runs, so several custody instances may
// be configured with the same routes safely. The owner publishes only under
// a lease renewed on the lock's connection (Options.Lease); when it loses
// that connection it stops starting publishes, saves its checkpoint with
// the events after it already published (relay_checkpoints.skip) and
// releases the route in relay_owners; a successor waits for the release
// (at most Options.HandoffWait) and skips those events, so a takeover
// publishes nothing twice and keeps per-stream order.
package relay
