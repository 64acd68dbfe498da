package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/custody/custody/adapters/driving/wecom/api"
)

// readmeRow renders v as its row of the README's configuration table.
func readmeRow(v envVar) string {
	flag, def := "", v.docDefault
	if v.flag != "" {
		flag = "`" + v.flag + "`"
	}
	if v.def != "" {
		def = "`" + v.def + "`"
	}
	return strings.ReplaceAll("| `"+v.name+"` | "+flag+" | "+def+" | "+v.meaning+" |", "|  |", "| |")
}

// TestREADMEConfigurationTable: the README's table of environment
// variables is envVars, row for row — names, flags, defaults, meanings.
func TestREADMEConfigurationTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var got []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `") {
			got = append(got, line)
		}
	}
	var want []string
	for _, v := range envVars {
		want = append(want, readmeRow(v))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("README.md's configuration table differs from envVars; want these rows:\n%s\n\ngot:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}

// TestEnvDefaultsMatchTheCode: defaults the code also holds elsewhere.
func TestEnvDefaultsMatchTheCode(t *testing.T) {
	if envDefault("CUSTODY_WECOM_API_URL") != api.DefaultBaseURL {
		t.Fatalf("CUSTODY_WECOM_API_URL default %q, the client's %q", envDefault("CUSTODY_WECOM_API_URL"), api.DefaultBaseURL)
	}
	if envDefault("CUSTODY_ADMIN_TOKEN_FILE") != adminTokenFile {
		t.Fatal("admin token file default")
	}
	for _, v := range envVars {
		if v.def != "" {
			if err := v.check(v.def); err != nil {
				t.Errorf("%s: its own default %q is refused: %v", v.name, v.def, err)
			}
		}
		if (v.def == "") == (v.docDefault == "") {
			t.Errorf("%s: want exactly one of def and docDefault", v.name)
		}
	}
}

// TestBadEnvironmentStopsCustody: a bad value is an error at start that
// names the variable and what it accepts — never the value (it may be a
// secret) — and nothing runs.
func TestBadEnvironmentStopsCustody(t *testing.T) {
	for _, tc := range []struct{ name, value, accepts string }{
		{"CUSTODY_SHUTDOWN_TIMEOUT", "30", "duration with a unit"},
		{"CUSTODY_SHUTDOWN_TIMEOUT", "-5s", "positive duration"},
		{"CUSTODY_SETTLE_EVERY", "0s", "positive duration"},
		{"CUSTODY_PROJECTION_LEASE", "50ms", "at least 100ms"},
		{"CUSTODY_PROJECTION_LEASE", "5", "at least 100ms"},
		{"CUSTODY_PROJECTION_LINGER", "100", "from 0s to 5s"},
		{"CUSTODY_PROJECTION_LINGER", "-1ms", "from 0s to 5s"},
		{"CUSTODY_PROJECTION_LINGER", "6s", "from 0s to 5s"},
		{"CUSTODY_PROJECTION_LINGER", "99999999999999h", "from 0s to 5s"},
		{"CUSTODY_PROJECTION_LINGER", "50ms secretpw", "from 0s to 5s"},
		{"CUSTODY_INSTANCE", "host\x01secretpw", "control characters"},
		{"CUSTODY_PROJECTION_PARTITIONS", "0", "from 1 to 64"},
		{"CUSTODY_PROJECTION_PARTITIONS", "-4", "from 1 to 64"},
		{"CUSTODY_PROJECTION_PARTITIONS", "65", "from 1 to 64"},
		{"CUSTODY_PROJECTION_PARTITIONS", "4.0", "from 1 to 64"},
		{"CUSTODY_PROJECTION_PARTITIONS", "8 secretpw", "from 1 to 64"},
		{"CUSTODY_STAFF_BATCH", "0", "from 1 to 10000"},
		{"CUSTODY_STAFF_BATCH", "-1", "from 1 to 10000"},
		{"CUSTODY_STAFF_BATCH", "10001", "from 1 to 10000"},
		{"CUSTODY_STAFF_BATCH", "99999999999999999999", "from 1 to 10000"},
		{"CUSTODY_STAFF_BATCH", "1e3", "from 1 to 10000"},
		{"CUSTODY_STAFF_BATCH", "64 secretpw", "from 1 to 10000"},
		{"CUSTODY_WECOM_MASS_REPORT_EVERY", "-1h", "0s for off"},
		{"CUSTODY_WECOM_MASS_REPORT_EVERY", "hourly", "0s for off"},
		{"CUSTODY_IDEMPOTENCY_RETENTION", "a week", "positive duration"},
		{"CUSTODY_ERASURE_REWRITE_AFTER", "1x", "positive duration"},
		{"CUSTODY_WECOM_RECONCILE_EVERY", "-1h", "0s for off"},
		{"CUSTODY_LOG_LEVEL", "verbose", "debug, info, warn or error"},
		{"CUSTODY_LOG_LEVEL", "info+2", "debug, info, warn or error"},
		{"CUSTODY_LOG_FORMAT", "yaml", "text or json"},
		{"CUSTODY_HTTP_ADDR", "8080", "HOST:PORT"},
		{"CUSTODY_HTTP_ADDR", ":99999", "HOST:PORT"},
		{"DATABASE_URL", "mysql://secretpw@h/db", "PostgreSQL URL"},
		{"DATABASE_URL", "secretpw", "PostgreSQL URL"},
		{"DATABASE_URL", "postgres://u@h/db?pool_max_conns=-3&x=secretpw", "PostgreSQL URL"},
		{"DATABASE_URL", "postgres://u:secretpw@h:notaport/db", "PostgreSQL URL"},
		{"CUSTODY_MASTER_KEY", "secretpw", "base64 of 32"},
		{"CUSTODY_ADMIN_TOKEN", "secretpw", "at least 16"},
		{"CUSTODY_ADMIN_TOKEN", "secretpw secretpw secretpw", "without spaces"},
		{"CUSTODY_EVENT_LOG", "secretpw", `"postgres" or a URL`},
		{"CUSTODY_EVENT_LOG", "mongodb://secretpw@h", "unknown scheme"},
		{"CUSTODY_RELAY_ROUTES", "nats", "NAME=URL"},
		{"CUSTODY_URL", "localhost:8080", "http:// or https://"},
		{"CUSTODY_WECOM_SECRET", "secretpw\x01", "control characters"},
		{"PG_BINDIR", "/nonexistent/secretpw", "existing directory"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			var stderr bytes.Buffer
			err := run(context.Background(), []string{"migrate"}, &stderr)
			if err == nil {
				t.Fatal("custody ran")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.name) || !strings.Contains(msg, tc.accepts) {
				t.Fatalf("error %q: want it to name %s and say %q", msg, tc.name, tc.accepts)
			}
			if strings.Contains(msg, "secretpw") {
				t.Fatalf("error %q repeats the value", msg)
			}
		})
	}
}

func TestGoodEnvironmentPasses(t *testing.T) {
	for name, value := range map[string]string{
		"CUSTODY_SHUTDOWN_TIMEOUT":        "45s",
		"CUSTODY_WECOM_RECONCILE_EVERY":   "0s",
		"CUSTODY_STAFF_BATCH":             "10000",
		"CUSTODY_PROJECTION_PARTITIONS":   "64",
		"CUSTODY_PROJECTION_LINGER":       "5s",
		"CUSTODY_WECOM_MASS_REPORT_EVERY": "0s",
		"CUSTODY_LOG_LEVEL":               "DEBUG",
		"CUSTODY_LOG_FORMAT":              "json",
		"CUSTODY_HTTP_ADDR":               "127.0.0.1:0",
		"DATABASE_URL":                    "host=127.0.0.1 port=5432 user=u dbname=db pool_max_conns=4",
		"CUSTODY_EVENT_LOG":               "kurrentdb://127.0.0.1:2113?tls=false",
		"CUSTODY_RELAY_ROUTES":            "nats=nats://127.0.0.1:4222",
		"CUSTODY_MASTER_KEY":              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	} {
		t.Setenv(name, value)
	}
	if err := checkEnvironment(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if envDurationOf("CUSTODY_SHUTDOWN_TIMEOUT").String() != "45s" {
		t.Fatal("CUSTODY_SHUTDOWN_TIMEOUT not read")
	}
}
