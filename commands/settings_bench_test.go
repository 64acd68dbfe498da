package commands_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events/eventlog"
)

// BenchmarkSettingsSource measures what reading a corp's settings from
// its stream costs: one lookup of the SettingsSource, and one command
// (JoinStaff of a new member: read, decide, append), with the fixed in-memory
// settings of before as the baseline. LogSettings reads the stream from
// the version it knows on every lookup; the stream holds three changes.
func BenchmarkSettingsSource(b *testing.B) {
	benchEachLog(b, func(b *testing.B, log eventlog.EventLog, eraser eventlog.Eraser) {
		ctx := context.Background()
		seed, err := commands.New(commands.Options{Log: log, Eraser: eraser, Settings: &commands.LogSettings{Log: log}, Clock: &clock{t: t0}})
		if err != nil {
			b.Fatal(err)
		}
		for i, v := range []string{"30000", "40000", "50000"} {
			if _, err := seed.ChangeCorpSettings(ctx, commands.ChangeCorpSettings{Meta: meta(), Changes: map[string]string{"staff_capacity": v}}); err != nil {
				b.Fatal(i, err)
			}
		}
		if _, err := seed.JoinStaff(ctx, commands.JoinStaff{Meta: meta(), StaffID: "s", Name: "n"}); err != nil {
			b.Fatal(err)
		}
		sources := []struct {
			name string
			src  commands.SettingsSource
		}{
			{"baseline-fixed", commands.SettingsMap{corpID: corp.Settings{}}},
			{"log", &commands.LogSettings{Log: log}},
			{"log-maxage-5s", &commands.LogSettings{Log: log, MaxAge: 5e9}},
		}
		for _, s := range sources {
			b.Run("lookup/"+s.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := s.src.Settings(ctx, corpID); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		run := 0
		for _, s := range sources {
			b.Run("command/"+s.name, func(b *testing.B) {
				run++ // -count and the benchmark's own reruns join new members
				h, err := commands.New(commands.Options{Log: log, Eraser: eraser, Settings: s.src, Clock: &clock{t: t0}})
				if err != nil {
					b.Fatal(err)
				}
				for i := 0; b.Loop(); i++ {
					if _, err := h.JoinStaff(ctx, commands.JoinStaff{Meta: meta(), StaffID: fmt.Sprintf("%s-%d-%d", s.name, run, i), Name: "n"}); err != nil {
						b.Fatal(fmt.Sprint(i), err)
					}
				}
			})
		}
	})
}
