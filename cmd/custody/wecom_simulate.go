package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"strings"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/standin"
)

// WeCom's published sample corpid, Token and EncodingAESKey (WECOM.md):
// the simulator's defaults, so a demo needs no made-up keys. They are
// public; never use them for a real corp.
const (
	sampleCorpID = "wx5823bf96d3bd56c7"
	sampleToken  = "QDG6eK"
	sampleAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
)

const wecomSimulateUsage = `usage: custody wecom simulate --corp C [--url URL] [flags]

Plays a seeded day of a WeCom corp with the protocol-level WeCom stand-in
(adapters/driving/wecom/standin; not WeCom): staff members, customers adding them
through channel codes, churn, edited remarks, customer groups with members
joining and leaving, owner changes, tags and handovers. Its callbacks go to
<url>/wecom/callback/<corp>, encrypted and signed as WeCom does, with WeCom's
habits: an answer timeout, three deliveries in all, and, as asked, lost and
duplicated callbacks and undocumented payload variations. Prints each
callback's kind and fate (no personal data) and the delivery statistics.

custody must hold a WeCom connection for the corp with the same corpid,
token and AES key; the defaults are WeCom's public sample values.
`

// runWecomSimulate is "custody wecom simulate".
func runWecomSimulate(ctx context.Context, args []string) error {
	return explainUsage(os.Stderr, wecomSimulateCmd(ctx, args, os.Stdout, os.Stderr))
}

func wecomSimulateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("custody wecom simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	corp := fs.String("corp", "", "custody corp id: callbacks go to <url>/wecom/callback/<corp> (required)")
	baseURL := fs.String("url", "http://127.0.0.1:8080", "custody's base URL")
	corpID := fs.String("corpid", sampleCorpID, "WeCom corpid of the simulated corp")
	token := fs.String("token", sampleToken, "callback Token")
	aesKey := fs.String("aes-key", sampleAESKey, "callback EncodingAESKey (43 characters)")
	seed := fs.Uint64("seed", 1, "seed of the day and of the delivery habits: the same seed plays the same day")
	events := fs.Int("events", standin.DefaultDayEvents, fmt.Sprintf("callbacks to play, 1..%d", standin.MaxDayEvents))
	date := fs.String("date", "", "day to play, YYYY-MM-DD in Asia/Shanghai (default yesterday)")
	lose := fs.Float64("lose", 0, "probability, 0..1, that a callback is never sent")
	duplicate := fs.Float64("duplicate", 0, "probability, 0..1, that a callback is delivered twice (concurrently or not, re-sealed or not, half and half)")
	quirk := fs.Float64("quirk", 0, "probability, 0..1, that a callback uses WeCom's undocumented dialect (no CDATA, State missing or extra, …)")
	timeout := fs.Duration("timeout", standin.DefaultTimeout, "answer timeout of one delivery")
	verify := fs.Bool("verify", true, "perform WeCom's URL check (GET with echostr) first")
	fs.Usage = func() {
		fmt.Fprint(stderr, wecomSimulateUsage+"\nflags:\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage // the flag package has said what is wrong
	}

	var problems []error
	bad := func(format string, a ...any) { problems = append(problems, fmt.Errorf(format, a...)) }
	if len(pos) > 0 {
		bad("unexpected arguments %q", pos)
	}
	if strings.TrimSpace(*corp) == "" {
		bad("--corp is required")
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"lose", *lose}, {"duplicate", *duplicate}, {"quirk", *quirk}} {
		if !(p.v >= 0 && p.v <= 1) {
			bad("--%s %v: want a probability between 0 and 1", p.name, p.v)
		}
	}
	if *events < 1 || *events > standin.MaxDayEvents {
		bad("--events %d: want 1..%d", *events, standin.MaxDayEvents)
	}
	if *timeout <= 0 {
		bad("--timeout %v: want a positive duration", *timeout)
	}
	day := time.Now().In(standin.Shanghai).AddDate(0, 0, -1)
	if *date != "" {
		if day, err = time.ParseInLocation("2006-01-02", *date, standin.Shanghai); err != nil {
			bad("--date %q: want YYYY-MM-DD", *date)
		}
	}
	o := standin.SimulateOptions{
		Day: standin.DayOptions{
			Corp:   standin.Options{CorpID: *corpID, Token: *token, EncodingAESKey: *aesKey},
			Seed:   *seed,
			Events: *events,
			Date:   day,
		},
		Emitter: standin.EmitterOptions{
			URL:     *baseURL,
			Corp:    *corp,
			Timeout: *timeout,
			Habits:  standin.Habits{Lose: *lose, Duplicate: *duplicate, Concurrent: 0.5, Reseal: 0.5, Quirk: *quirk},
		},
		Verify: *verify,
	}
	if err := o.Day.Corp.Validate(); err != nil {
		bad("--corpid, --token, --aes-key: %w", err)
	}
	if err := checkBaseURL(*baseURL); err != nil {
		bad("--url %q: %w", *baseURL, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", errUsage, errors.Join(problems...))
	}

	fmt.Fprintf(stdout, "simulating %s (Asia/Shanghai) for corpid %s, seed %d: %d callbacks to %s/wecom/callback/%s\n",
		day.Format("2006-01-02"), *corpID, *seed, *events, strings.TrimRight(*baseURL, "/"), *corp)
	o.OnDelivery = func(i int, cb standin.Callback, d standin.Delivery) {
		if i == 0 && *verify {
			fmt.Fprintln(stdout, "URL check passed")
		}
		fmt.Fprintf(stdout, "%5d %s %-50s %s\n", i+1, cb.CreateTime.In(standin.Shanghai).Format("15:04:05"), cb.Kind(), fate(d))
	}
	res, err := standin.Simulate(ctx, o)
	printStats(stdout, res.Stats)
	if err != nil {
		return fmt.Errorf("wecom simulate: %w", err)
	}
	return nil
}

// fate says what became of a delivered callback, for the listing.
func fate(d standin.Delivery) string {
	var b strings.Builder
	switch {
	case d.Dropped:
		b.WriteString("LOST (never sent)")
	case d.Lost():
		fmt.Fprintf(&b, "LOST (no 200 after %s)", deliveries(d.Requests))
	default:
		fmt.Fprintf(&b, "answered (%s)", deliveries(d.Requests))
	}
	if d.Duplicated {
		if d.Concurrent {
			b.WriteString(", duplicated concurrently")
		} else {
			b.WriteString(", duplicated")
		}
	}
	if !d.Dialect.IsZero() {
		b.WriteString(", dialect " + d.Dialect.String())
	}
	return b.String()
}

func deliveries(n int) string {
	if n == 1 {
		return "1 delivery"
	}
	return fmt.Sprintf("%d deliveries", n)
}

func printStats(w io.Writer, s standin.Stats) {
	fmt.Fprintf(w, "callbacks %d: lost %d (never sent %d, unanswered %d), duplicated %d, undocumented dialect %d\n",
		s.Callbacks, s.Lost, s.Dropped, s.Lost-s.Dropped, s.Duplicated, s.Quirked)
	fmt.Fprintf(w, "deliveries %d: answered %d, failed %d, retries %d\n", s.Sent, s.Answered, s.Failed, s.Retried)
}

// checkBaseURL applies the emitter's rule to --url.
func checkBaseURL(s string) error {
	u, err := neturl.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return errors.New("want http(s)://host[:port][/path]")
	}
	return nil
}
