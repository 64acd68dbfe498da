//go:build !race

package logcopy_test

const raceEnabled = false
