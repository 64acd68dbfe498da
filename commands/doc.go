// Package commands carries out what users and integrations ask of custody:
// one handler per command, each loading the aggregate's stream, letting the
// domain decide, and appending the resulting events with the expected
// version it read. It declares the EventLog port that adapters implement and
// the Clock that tests fix.
//
// Build one Handler with New and call its methods (StartRelation,
// RequestHandover, SettleDue, ...) from any number of goroutines.
//
// Concurrency and retries: every append names the exact stream version the
// decision was made on; on ErrConflict the command re-reads and decides
// again, at most Options.MaxRetries times.
//
// Idempotency: a command with Meta.CommandID is carried out once. Run again
// (a client retry, a redelivered message) it finds its events on the
// stream, appends nothing and returns the first outcome with Replayed set.
// Event ids are UUIDv5 of (command id, stream, expected version, index), so
// two concurrent deliveries of one command produce identical appends and
// the log stores one. Without a command id events get UUIDv7 ids.
//
// Capacity: a handover first records handover.requested on the customer's
// stream, then reserves a slot on the target's staff stream (exact expected
// version), or fails the handover (target_at_capacity) when the target is
// full. However many handovers to one target run at once, in however many
// processes, the target's handover reservations never exceed its capacity.
//
// Slots follow relations, and the customer's stream is the source of
// truth: after each customer-stream change the handler converges the slots
// of the members it touched with the customer's stream as it is then (an
// active relation holds a slot; so does a pending handover, capacity
// checked; any other slot is released). A command that dies between its
// customer append and the convergence is completed by the same command
// retried with its command id, by the SlotKeeper (which follows the log and
// converges every pair an event touches) or by RepairSlots, which converges
// every pair of a corp. See converge in slots.go for why the last convergence
// wins also across processes.
package commands
