package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/inbox"
)

const wecomUsage = `usage: custody wecom connect --corp CORP --corpid WECOM_CORPID [--overlap 1h]
       custody wecom disconnect --corp CORP
       custody wecom list
       custody wecom inbox --corp CORP [--status pending|unknown|rejected|done] [--limit 20]
       custody wecom simulate --corp CORP [--url http://127.0.0.1:8080] [--seed N] ...
       custody wecom reconcile --corp CORP [--api-url URL] [--rate N]

connect stores the corp's WeCom connection, sealed: WeCom's corpid, and the
callback Token and EncodingAESKey from WeCom's admin console (应用管理 → 接收消息
→ 设置API接收), read from the environment so they never show in a process
list or a shell history:

  CUSTODY_WECOM_TOKEN     the callback Token (1-32 letters or digits)
  CUSTODY_WECOM_AES_KEY   the EncodingAESKey (43 characters)
  CUSTODY_WECOM_SECRET    the app secret (optional; used by the API client)

Connecting again with a new Token or EncodingAESKey keeps the old pair valid
for --overlap, so callbacks signed while the console was being changed are
not lost. The callback URL to enter in WeCom is
  https://YOUR-HOST/wecom/callback/CORP
simulate drives a realistic day of a corp from a protocol-level WeCom
stand-in against a running custody (custody wecom simulate -h for flags).
See docs/wecom.md.
`

// runWeCom implements `custody wecom`.
func runWeCom(ctx context.Context, args []string) error {
	if len(args) == 0 || isHelpFlag(args[0]) || args[0] == "help" {
		fmt.Fprint(os.Stderr, wecomUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	if args[0] == "simulate" {
		return runWecomSimulate(ctx, args[1:])
	}
	if args[0] == "reconcile" {
		return runWecomReconcile(ctx, args[1:])
	}
	fs := flag.NewFlagSet("wecom "+args[0], flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), wecomUsage) }
	corp := fs.String("corp", "", "custody's corp")
	corpid := fs.String("corpid", "", "WeCom's corpid of the corp")
	overlap := fs.Duration("overlap", connection.DefaultOverlap, "how long a replaced Token/EncodingAESKey stays valid")
	status := fs.String("status", inbox.StatusPending, "inbox status to list: pending, unknown, rejected or done")
	limit := fs.Int("limit", 20, "at most this many callbacks (1-1000)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	needCorp := func() error {
		if *corp == "" {
			return fmt.Errorf("%w: --corp is required", errUsage)
		}
		return nil
	}
	switch args[0] {
	case "connect":
		if err := needCorp(); err != nil {
			return explainUsage(os.Stderr, err)
		}
		if *overlap <= 0 || *overlap > 7*24*time.Hour {
			return explainUsage(os.Stderr, fmt.Errorf("%w: --overlap must be between 1s and 168h", errUsage))
		}
		c := connection.Connection{
			CorpID: *corp, WeComCorpID: *corpid,
			Current: connection.Key{Token: os.Getenv("CUSTODY_WECOM_TOKEN"), EncodingAESKey: os.Getenv("CUSTODY_WECOM_AES_KEY")},
			Secret:  os.Getenv("CUSTODY_WECOM_SECRET"),
		}
		if err := c.Validate(); err != nil {
			return explainUsage(os.Stderr, fmt.Errorf("%w: %w", errUsage, err))
		}
		store, cleanup, err := openConnections(ctx)
		if err != nil {
			return err
		}
		defer cleanup()
		saved, err := store.Connect(ctx, c, *overlap)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "connected corp %s to WeCom corpid %s (%d previous key pair(s) still accepted)\ncallback URL: https://YOUR-HOST/wecom/callback/%s\n",
			saved.CorpID, saved.WeComCorpID, len(saved.Previous), saved.CorpID)
		return nil
	case "disconnect":
		if err := needCorp(); err != nil {
			return explainUsage(os.Stderr, err)
		}
		store, cleanup, err := openConnections(ctx)
		if err != nil {
			return err
		}
		defer cleanup()
		if err := store.Disconnect(ctx, *corp); err != nil {
			if errors.Is(err, connection.ErrNotFound) {
				return fmt.Errorf("corp %s is not connected to WeCom", *corp)
			}
			return err
		}
		fmt.Fprintf(os.Stderr, "disconnected corp %s: its callbacks are refused from now on\n", *corp)
		return nil
	case "list":
		store, cleanup, err := openConnections(ctx)
		if err != nil {
			return err
		}
		defer cleanup()
		list, err := store.List(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "CORP\tWECOM CORPID\tAPP SECRET\tPREVIOUS KEYS\tUPDATED")
		for _, s := range list {
			secret := "no"
			if s.HasSecret {
				secret = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", s.CorpID, s.WeComCorpID, secret, s.PreviousKeys, s.UpdatedAt.UTC().Format(time.RFC3339))
		}
		return w.Flush()
	case "inbox":
		if err := needCorp(); err != nil {
			return explainUsage(os.Stderr, err)
		}
		switch *status {
		case inbox.StatusPending, inbox.StatusUnknown, inbox.StatusRejected, inbox.StatusDone:
		default:
			return explainUsage(os.Stderr, fmt.Errorf("%w: --status must be pending, unknown, rejected or done", errUsage))
		}
		if *limit < 1 || *limit > 1000 {
			return explainUsage(os.Stderr, fmt.Errorf("%w: --limit must be between 1 and 1000", errUsage))
		}
		pool, cleanup, err := openPostgres(ctx, nil)
		if err != nil {
			return err
		}
		defer cleanup()
		if err := inbox.Migrate(ctx, pool); err != nil {
			return err
		}
		ib := inbox.New(pool)
		counts, err := ib.Counts(ctx, *corp)
		if err != nil {
			return err
		}
		fmt.Printf("corp %s: %d pending, %d done, %d unknown, %d rejected\n", *corp,
			counts[inbox.StatusPending], counts[inbox.StatusDone], counts[inbox.StatusUnknown], counts[inbox.StatusRejected])
		items, err := ib.List(ctx, *corp, *status, 0, *limit)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tKIND\tSUBJECT\tWECOM TIME\tRECEIVED\tDELIVERIES\tATTEMPTS\tNOTE")
		for _, it := range items {
			created := "-"
			if !it.CreateTime.IsZero() {
				created = it.CreateTime.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", it.ID, it.Kind, it.Subject, created,
				it.ReceivedAt.UTC().Format(time.RFC3339), it.Deliveries, it.Attempts, strings.ReplaceAll(it.LastError, "\n", " "))
		}
		return w.Flush()
	default:
		fmt.Fprintf(os.Stderr, "custody wecom: unknown action %q\n\n%s", args[0], wecomUsage)
		return errUsage
	}
}

// openConnections opens the connection store, sealing with custody's
// keyring.
func openConnections(ctx context.Context) (*connection.Store, func(), error) {
	pool, cleanup, err := openPostgres(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := migrateAll(ctx, pool); err != nil {
		cleanup()
		return nil, nil, err
	}
	keyring, err := openKeyring(ctx, pool, slog.Default())
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return connection.NewStore(pool, keyring), cleanup, nil
}
