package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// profileOnSignal lets `custody bench` profile a running server: with
// CUSTODY_CPUPROFILE set, SIGUSR1 starts a CPU profile and SIGUSR2 stops
// it, writing $CUSTODY_CPUPROFILE.N (N counting from 1). Without the
// variable it does nothing.
func profileOnSignal(logger *slog.Logger) {
	path := os.Getenv("CUSTODY_CPUPROFILE")
	if path == "" {
		return
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		var f *os.File
		n := 0
		for sig := range ch {
			switch {
			case sig == syscall.SIGUSR1 && f == nil:
				n++
				var err error
				if f, err = os.Create(fmt.Sprintf("%s.%d", path, n)); err != nil {
					logger.Warn("cpu profile", "err", err)
					continue
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					logger.Warn("cpu profile", "err", err)
					f.Close()
					f = nil
				}
			case sig == syscall.SIGUSR2 && f != nil:
				pprof.StopCPUProfile()
				f.Close()
				f = nil
			}
		}
	}()
}
