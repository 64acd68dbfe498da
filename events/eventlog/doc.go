// Package eventlog is the port between custody's core and the append-only
// log its state derives from: the EventLog interface, its errors and
// expectations, and ValidateAppend with the text rule (TextProblem) that
// every implementation applies before it writes. It depends on package
// events only, so log implementations (adapters/eventlog/...), the relay and
// analyst tools need not import the domain.
package eventlog
