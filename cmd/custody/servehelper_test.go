package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
)

// freshMachine moves the test into an empty directory and clears the
// variables a developer's shell may set, as on a fresh machine: serve then
// starts its private PostgreSQL under ./.data and generates its keys and
// admin token there.
func freshMachine(t *testing.T) {
	t.Helper()
	t.Chdir(t.TempDir())
	for _, k := range []string{"DATABASE_URL", "CUSTODY_ADMIN_TOKEN", "CUSTODY_MASTER_KEY", "CUSTODY_EVENT_LOG", "CUSTODY_RELAY_ROUTES", "CUSTODY_ADMIN_TOKEN_FILE"} {
		t.Setenv(k, "")
	}
}

// servedCustody is custody serve running in the test (runServe on a free
// port, settle job hourly), called with the admin token it uses.
type servedCustody struct {
	t      *testing.T
	base   string
	token  string
	cancel context.CancelFunc
	// exited is closed when runServe returned err.
	exited chan struct{}
	err    error
	once   sync.Once
}

// startServe starts custody serve and waits until it serves; an error is
// serve's when it stopped before serving (it refused to start). The test's
// end stops it.
func startServe(t *testing.T) (*servedCustody, error) {
	t.Helper()
	addrc := make(chan net.Addr, 1)
	serving = func(a net.Addr) { addrc <- a }
	defer func() { serving = nil }()
	ctx, cancel := context.WithCancel(context.Background())
	s := &servedCustody{t: t, cancel: cancel, exited: make(chan struct{})}
	go func() {
		s.err = runServe(ctx, []string{"-addr", "127.0.0.1:0", "-settle-every", "1h"})
		close(s.exited)
	}()
	select {
	case a := <-addrc:
		s.base = "http://" + a.String()
	case <-s.exited:
		cancel()
		return nil, s.err
	}
	t.Cleanup(func() { s.stop() })
	raw, err := os.ReadFile(adminTokenFile)
	if err != nil {
		t.Fatalf("no admin token: %v", err)
	}
	s.token = strings.TrimSpace(string(raw))
	return s, nil
}

// stop stops serve (as SIGTERM does) and returns what it returned.
func (s *servedCustody) stop() error {
	s.once.Do(func() {
		s.cancel()
		<-s.exited
	})
	return s.err
}

// call sends a request with the admin token and returns the status and
// body.
func (s *servedCustody) call(method, path, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
