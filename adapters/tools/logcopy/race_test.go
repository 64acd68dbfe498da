//go:build race

package logcopy_test

// raceEnabled shrinks the 50,000-event scenario under -race, whose
// instrumentation makes the copy several times slower; the default run
// keeps the size.
const raceEnabled = true
