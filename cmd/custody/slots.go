package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
)

// slotKeeperCheckpoint names serve's slot keeper checkpoint.
const slotKeeperCheckpoint = "slot-keeper"

const slotsUsage = `usage: custody slots repair [--corp CORP]

Reads the whole event log and converges every (customer, staff member) pair
it mentions: a member holds a slot for a customer exactly while the customer
has an active relation with the member or a handover to the member is
pending (capacity checked; a handover that finds its target full fails with
target_at_capacity). It repairs logs written before custody serve ran the
slot keeper: reservations of handovers that were never recorded, relations
without a slot, slots kept after their relation ended. Every change is an
event (staff.slot_reserved, staff.slot_released, handover.failed) and is
printed. Safe while custody serve runs; a second run changes nothing.
`

// runSlots implements `custody slots`.
func runSlots(ctx context.Context, args []string) error {
	return explainUsage(os.Stderr, slotsCmd(ctx, args, os.Stdout, os.Stderr))
}

func slotsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "repair" {
		fmt.Fprint(stderr, slotsUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("custody slots repair", flag.ContinueOnError)
	fs.SetOutput(stderr)
	corp := fs.String("corp", "", "repair only this corp (default: every corp in the log)")
	fs.Usage = func() {
		fmt.Fprint(stderr, slotsUsage+"\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	pool, closePG, err := openPostgres(ctx, nil)
	if err != nil {
		return err
	}
	defer closePG()
	evlog, eraser, closeLog, err := openEventLog(ctx, pool, nil)
	if err != nil {
		return err
	}
	defer closeLog()
	h, err := commands.New(commands.Options{Log: evlog, Eraser: eraser, Settings: &commands.LogSettings{Log: evlog}})
	if err != nil {
		return err
	}
	rep, err := h.RepairSlots(ctx, *corp)
	printSlotRepairs(stdout, rep)
	if err != nil {
		return fmt.Errorf("slots repair: %w", err)
	}
	return nil
}

func printSlotRepairs(w io.Writer, rep commands.SlotRepairReport) {
	for _, r := range rep.Repairs {
		var done []string
		for _, e := range r.Events {
			done = append(done, describeSlotEvent(e))
		}
		fmt.Fprintf(w, "corp %s customer %s staff %s: %s\n", r.CorpID, r.CustomerID, r.StaffID, strings.Join(done, ", "))
	}
	fmt.Fprintf(w, "%d pairs checked in %d corps, %d repaired\n", rep.Pairs, len(rep.Corps), len(rep.Repairs))
	if len(rep.Skipped) > 0 {
		fmt.Fprintf(w, "skipped corps without settings: %s\n", strings.Join(rep.Skipped, ", "))
	}
}

// describeSlotEvent is one recorded repair, e.g. "staff.slot_released
// (orphaned)".
func describeSlotEvent(rec events.Recorded) string {
	p, err := events.DecodeRecorded(rec)
	if err != nil {
		return rec.Type
	}
	switch e := p.(type) {
	case *events.StaffSlotReserved:
		return rec.Type + " (" + e.Reason + ")"
	case *events.StaffSlotReleased:
		return rec.Type + " (" + e.Reason + ")"
	case *events.HandoverFailed:
		return rec.Type + " (" + e.Reason + ", handover " + e.HandoverID + ")"
	}
	return rec.Type
}
