package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/custody/custody/adapters/driving/httpapi"
)

const tokensUsage = `usage: custody tokens create --corp CORP [--label TEXT] [--viewer [--personal-data]]
       custody tokens list [--corp CORP]
       custody tokens revoke TOKEN_ID

A token is valid for the API of one corp (/v1/corps/CORP/...) and the
console of that corp. --viewer makes a read-only console token (no API,
no actions; personal data only with --personal-data). Only its SHA-256 is stored: create prints the
secret once. Revocation takes effect on the next request of every running
instance. The admin token (all corps) is CUSTODY_ADMIN_TOKEN or the file
custody serve generated (./.data/admin-token).
`

// runTokens implements `custody tokens`.
func runTokens(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, tokensUsage)
		return errUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stderr, tokensUsage)
		return flag.ErrHelp
	case "create", "list", "revoke":
	default:
		fmt.Fprintf(os.Stderr, "custody tokens: unknown action %q\n\n%s", args[0], tokensUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("tokens "+args[0], flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), tokensUsage) }
	corp := fs.String("corp", "", "the corp the token is valid for")
	label := fs.String("label", "", "what the token is for (shown by list)")
	viewer := fs.Bool("viewer", false, "create a read-only console token (the API refuses it)")
	personal := fs.Bool("personal-data", false, "with --viewer: the token may see personal data (names, remarks, phones)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	open := func() (*httpapi.Tokens, func(), error) {
		pool, cleanup, err := openPostgres(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		if err := httpapi.Migrate(ctx, pool); err != nil {
			cleanup()
			return nil, nil, err
		}
		return httpapi.NewTokens(pool), cleanup, nil
	}
	switch args[0] {
	case "create":
		if *corp == "" || fs.NArg() != 0 {
			fs.Usage()
			return errUsage
		}
		store, cleanup, err := open()
		if err != nil {
			return err
		}
		defer cleanup()
		if *personal && !*viewer {
			fmt.Fprintln(os.Stderr, "custody tokens: --personal-data goes with --viewer (operator tokens always see personal data)")
			return errUsage
		}
		tok, secret, err := store.CreateWith(ctx, *corp, *label, httpapi.TokenOptions{Viewer: *viewer, PersonalData: *personal})
		if err != nil {
			return err
		}
		// The secret goes to stdout alone, so `TOKEN=$(custody tokens
		// create --corp acme)` works; the id goes to stderr.
		fmt.Fprintf(os.Stderr, "created %s token %s for corp %s (the secret below is shown once)\n", tok.Kind, tok.ID, tok.CorpID)
		fmt.Println(secret)
		return nil
	case "list":
		if fs.NArg() != 0 {
			fs.Usage()
			return errUsage
		}
		store, cleanup, err := open()
		if err != nil {
			return err
		}
		defer cleanup()
		list, err := store.List(ctx, *corp)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tCORP\tKIND\tLABEL\tCREATED\tREVOKED")
		for _, t := range list {
			revoked := "-"
			if t.RevokedAt != nil {
				revoked = t.RevokedAt.UTC().Format(time.RFC3339)
			}
			kind := t.Kind
			if t.Kind == httpapi.KindViewer && t.PersonalData {
				kind += "+personal-data"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.CorpID, kind, t.Label, t.CreatedAt.UTC().Format(time.RFC3339), revoked)
		}
		return w.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			fs.Usage()
			return errUsage
		}
		store, cleanup, err := open()
		if err != nil {
			return err
		}
		defer cleanup()
		if err := store.Revoke(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "revoked token %s\n", fs.Arg(0))
		return nil
	default:
		fmt.Fprintf(os.Stderr, "custody tokens: unknown action %q\n\n%s", args[0], tokensUsage)
		return errUsage
	}
}
