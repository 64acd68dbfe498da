package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/corp"
)

const settingsUsage = `usage: custody settings get --corp C [--json]
       custody settings set --corp C [--by OPERATOR] --FIELD VALUE...

get prints the corp's settings — the limits its rules apply, WeCom's
defaults until changed — and every change: when, by whom, which fields.

set changes the fields given (the others keep their value) and records
corp.settings_changed; the same values again record nothing. A running
custody applies the change to its next command. Durations take a unit:
48h, 90d, 1h30m. --by names who changes them in the audit trail (an
operator id, not a name; default "cli").

fields:
`

func runSettings(ctx context.Context, args []string) error {
	return explainUsage(os.Stderr, settingsCommand(ctx, args, os.Stdout, os.Stderr))
}

func settingsFieldsUsage(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range corp.Fields {
		fmt.Fprintf(tw, "  --%s\t%s (default %s)\n", flagName(f.Name), f.Doc, f.Get(corp.Defaults()))
	}
	tw.Flush()
}

// flagName is a setting's flag: time_zone -> time-zone.
func flagName(field string) string { return strings.ReplaceAll(field, "_", "-") }

var operatorID = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)

func settingsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := func() { fmt.Fprint(stderr, settingsUsage); settingsFieldsUsage(stderr) }
	if len(args) == 0 {
		usage()
		return errUsage
	}
	action := args[0]
	if isHelpFlag(action) || action == "help" {
		usage()
		return flag.ErrHelp
	}
	if action != "get" && action != "set" {
		fmt.Fprintf(stderr, "custody settings: unknown action %q\n\n", action)
		usage()
		return errUsage
	}
	fs := flag.NewFlagSet("custody settings "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usage
	corpID := fs.String("corp", "", "corp id (required)")
	asJSON := fs.Bool("json", false, "get: print JSON")
	by := fs.String("by", "", "set: who changes the settings, an operator id (default: cli)")
	values := map[string]*string{}
	if action == "set" {
		for _, f := range corp.Fields {
			values[f.Name] = new(string)
			fs.Func(flagName(f.Name), f.Doc, func(v string) error { *values[f.Name] = v; return nil })
		}
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *corpID == "" || fs.NArg() != 0 {
		usage()
		return fmt.Errorf("%w: settings %s needs --corp and no arguments", errUsage, action)
	}
	changes := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		field := strings.ReplaceAll(f.Name, "-", "_")
		if _, ok := values[field]; ok {
			changes[field] = *values[field]
		}
	})
	actor := "cli"
	if *by != "" {
		if !operatorID.MatchString(*by) {
			return fmt.Errorf("%w: --by: want an operator id of letters, digits and _.@- (at most 64)", errUsage)
		}
		actor = "cli:" + *by
	}
	if action == "set" && len(changes) == 0 {
		usage()
		return fmt.Errorf("%w: settings set needs at least one --FIELD VALUE", errUsage)
	}
	// Check what needs no database first: a bad value opens nothing.
	if action == "set" {
		if _, err := corp.Defaults().Apply(changes); err != nil {
			return fmt.Errorf("%w: %v", errUsage, strings.ReplaceAll(err.Error(), corp.ErrInvalidSettings.Error()+": ", ""))
		}
	}

	pool, cleanupPG, err := openPostgres(ctx, nil)
	if err != nil {
		return err
	}
	defer cleanupPG()
	evlog, eraser, closeLog, err := openEventLog(ctx, pool, nil)
	if err != nil {
		return err
	}
	defer closeLog()
	h, err := commands.New(commands.Options{Log: evlog, Eraser: eraser, Settings: &commands.LogSettings{Log: evlog}})
	if err != nil {
		return err
	}
	if action == "set" {
		res, err := h.ChangeCorpSettings(ctx, commands.ChangeCorpSettings{
			Meta: commands.Meta{CorpID: *corpID, Actor: actor}, Changes: changes})
		if err != nil {
			var fe *commands.FieldError
			if errors.As(err, &fe) {
				return fmt.Errorf("%w: %s", errUsage, fe.Problem)
			}
			return err
		}
		if len(res.Events) == 0 {
			fmt.Fprintln(stderr, "settings unchanged: nothing recorded")
		} else {
			fmt.Fprintf(stderr, "recorded corp.settings_changed (version %d)\n", res.Events[0].StreamVersion)
		}
	}
	set, cfg, err := h.CorpSettings(ctx, *corpID)
	if err != nil {
		return err
	}
	if *asJSON {
		type change struct {
			Version  int64             `json:"version"`
			At       time.Time         `json:"at"`
			By       string            `json:"by"`
			Changed  []string          `json:"changed"`
			Settings map[string]string `json:"settings"`
		}
		out := struct {
			Corp     string            `json:"corp"`
			Settings map[string]string `json:"settings"`
			Version  int64             `json:"version"`
			History  []change          `json:"history"`
		}{Corp: *corpID, Settings: set.Values(), Version: cfg.Version(), History: []change{}}
		for _, c := range cfg.History() {
			out.History = append(out.History, change{c.Version, c.At.UTC(), c.By, c.Changed, c.Settings.Values()})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, f := range corp.Fields {
		mark := ""
		if f.Get(set) != f.Get(corp.Defaults()) {
			mark = "(changed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, f.Get(set), mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if len(cfg.History()) == 0 {
		fmt.Fprintln(stdout, "no changes recorded: WeCom's defaults")
		return nil
	}
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tAT\tBY\tCHANGED")
	for _, c := range cfg.History() {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", c.Version, c.At.UTC().Format(time.RFC3339), c.By, strings.Join(c.Changed, ", "))
	}
	return tw.Flush()
}
