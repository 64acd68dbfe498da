// Package projections keeps custody's sales-ops read models in PostgreSQL:
// tables that dashboards and the HTTP query API read with plain SQL, derived
// from the event log and never written by anything else.
//
// Each Projection has a stable name, its own tables in the schema
// "projections" (LiveSchema), its own ordered migrations and a checkpoint
// (an events.Position) in projections.projection_checkpoints. A Runner reads
// the log through a Source, applies many events per transaction and moves
// each projection's checkpoint in the same transaction as its rows, so a
// crash neither loses nor double-applies an event: every transaction first
// locks the checkpoint rows and skips what they already cover.
//
// Rebuild builds a projection from the start of the log into a shadow schema
// while the live tables keep serving, then swaps the tables in one
// transaction. It resumes an interrupted shadow build.
//
// The package imports only events, pgx and the standard library; adapters
// (pgstore, memlog, kurrent) satisfy Source.
package projections
