//go:build race

package relay_test

// raceEnabled shrinks the big scenarios under -race, which slows the
// writers and brokers' clients about tenfold; the default run keeps the
// full sizes.
const raceEnabled = true
