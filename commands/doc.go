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
// Capacity: a handover first reserves a slot on the target's staff stream
// (exact expected version), then records handover.requested on the
// customer's stream; a rejection on the customer side releases the slot
// again. However many handovers to one target run at once, in however many
// processes, the target's slots never exceed its capacity.
//
// Slots follow relations: after each customer-stream change the handler
// brings the slots of the members it touched in line with the customer's
// stream as it is then (an active relation holds a slot; a slot without one
// is kept only for a pending handover). Within one process these syncs take
// turns per member, so the slots always end up agreeing with the relations.
// Across processes, or after a crash between the two appends of a command,
// a slot can be left behind or missing; it is never more than the
// difference of those few races, and a missing slot is taken (capacity
// checked) when the handover completes.
package commands
