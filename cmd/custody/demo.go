package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/custody/custody/adapters/tools/demo"
)

// runDemo implements `custody demo`.
func runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	url := fs.String("url", env("CUSTODY_URL"), "base URL of the running server (CUSTODY_URL)")
	token := fs.String("token", os.Getenv("CUSTODY_TOKEN"), "bearer token for the corp, or the admin token (CUSTODY_TOKEN; default: the admin token file of a local `custody serve`)")
	corp := fs.String("corp", "acme", "corp to seed")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: custody demo [--url URL] [--token TOKEN] [--corp CORP]

Seeds a realistic corp through the HTTP API of a running custody serve:
staff joining, customers added through several channel codes, churn in both
directions, a departure followed by resigned handovers, in-service handovers
with one refusal and one capacity failure, groups with members joining and
leaving, moments opt-outs and consents. Running it twice is harmless: every
command carries an Idempotency-Key.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	tok := *token
	if tok == "" {
		b, err := os.ReadFile(env("CUSTODY_ADMIN_TOKEN_FILE"))
		if err != nil {
			return fmt.Errorf("no --token given and no admin token file (%s) of a local `custody serve`: %w", adminTokenFile, err)
		}
		tok = strings.TrimSpace(string(b))
	}
	sum, err := demo.Run(ctx, demo.Options{URL: *url, Token: tok, Corp: *corp})
	if err != nil {
		var ae *demo.APIError
		if errors.As(err, &ae) && ae.Status == 401 {
			return fmt.Errorf("%w (is --token valid for this server?)", err)
		}
		return err
	}
	fmt.Printf("seeded corp %s: %d staff, %d customers, %d relations ended, %d handovers settled, %d failed, %d refused, %d groups (%d commands, %d replayed)\n",
		*corp, sum.Staff, sum.Customers, sum.Churned, sum.HandoversSettled, sum.HandoversFailed, sum.HandoversRefused, sum.Groups, sum.Commands, sum.Replayed)
	for _, r := range sum.Refused {
		fmt.Printf("refused by a rule (the corp already held data): %s\n", r)
	}
	fmt.Printf("overview: %s\n", sum.OverviewURL)
	return nil
}
