package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/custody/custody/adapters/pg/pglaunch"
)

// psqlStdio are the streams psql is given; tests replace them.
var psqlStdio = struct {
	in       io.Reader
	out, err io.Writer
}{os.Stdin, os.Stdout, os.Stderr}

// runPsql runs psql on the database custody uses: DATABASE_URL when set,
// else the private PostgreSQL in ./.data/pg (started for the session when
// no custody process runs it, shared when one does). Arguments after the
// flags go to psql unchanged.
func runPsql(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("psql", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: custody psql [-- psql arguments]

Runs psql on custody's database: DATABASE_URL when it is set, else the
private PostgreSQL under ./.data/pg — host 127.0.0.1, user postgres (trust
authentication, local connections only), database custody, on the port
recorded in the 4th line of ./.data/pg/postmaster.pid. A server that custody
serve is running is shared; otherwise it is started for the session and
stopped when psql exits.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		inst, err := pglaunch.Start(ctx, pglaunch.Options{Dir: privateDataDir})
		if err != nil {
			return fmt.Errorf("private PostgreSQL (or set DATABASE_URL): %w", err)
		}
		defer func() {
			if err := inst.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "custody psql:", err)
			}
		}()
		if url, err = ensureDatabase(ctx, inst.URL(), privateDatabase); err != nil {
			return err
		}
	}
	bin, err := exec.LookPath("psql")
	if err != nil {
		return fmt.Errorf("psql is not installed (Debian: apt-get install postgresql-client); connect to %s with another client: %w", redactRoute(url), err)
	}
	// Not CommandContext: psql handles Ctrl-C itself (it cancels the query).
	cmd := exec.Command(bin, append([]string{url}, fs.Args()...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = psqlStdio.in, psqlStdio.out, psqlStdio.err
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("psql exited with status %d", ee.ExitCode())
		}
		return err
	}
	return nil
}
