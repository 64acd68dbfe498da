// Package events is custody's event catalog: every fact the system records,
// as a plain payload struct with a stable dotted name and a schema version,
// the envelope that carries it through an event log, and the codec that
// turns payloads into stored bytes and back (upcasting old schema versions).
//
// Personal data (names, remarks, phone numbers, descriptions, nicknames) is
// never part of a payload's JSON data. Payloads that carry any keep it in a
// separate PII struct, encoded on its own into Event.PII and sealed by the
// event log under the data subject's key (see DESIGN.md §7).
//
// Stored shapes are frozen: a change is a new schema version with an
// upcaster from the old one, and golden files under testdata/ fail a test
// when a shape changes by accident.
package events
