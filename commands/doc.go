// Package commands carries out what users and integrations ask of custody:
// one handler per command, each loading the aggregate's stream, letting the
// domain decide, and appending the resulting events with the expected
// version it read. It declares the EventLog port that adapters implement and
// the Clock that tests fix.
package commands
