package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/custody/custody/events/eventlog"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// unavailable translates a connection-level failure into the port's
// sentinel: err wrapped in eventlog.ErrUnavailable (err stays in the chain
// for logs). Other errors, and a failure of the caller's own context
// (cancelled, deadline passed), are returned as they are.
func unavailable(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, eventlog.ErrUnavailable) || ctx.Err() != nil {
		return err
	}
	if IsConnFailure(err) {
		return fmt.Errorf("%w: %w", eventlog.ErrUnavailable, err)
	}
	return err
}

// IsConnFailure reports whether err says that PostgreSQL could not be
// reached or the connection broke, rather than that it refused the
// statement: a failed connect (pgconn.ConnectError, including a connect
// timeout), an error pgconn marks safe to retry (nothing was sent), a
// network error ("conn closed" is one pgconn marks safe to retry), a
// connection closed under the query, the server shutting
// down or not accepting connections yet (SQLSTATE 57P01, 57P02, 57P03),
// any class 08 connection exception, and a closed pool.
//
// It is exported for the HTTP API's query paths, which run on their own
// pool and map the same failures to 503.
func IsConnFailure(err error) bool {
	if err == nil {
		return false
	}
	// A failed connect first: it may carry the server's refusal as a
	// PgError (e.g. 55000, the database does not accept connections).
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03":
			return true
		case strings.HasPrefix(pgErr.Code, "08"):
			return true
		}
		return false
	}
	var netErr net.Error
	switch {
	case pgconn.SafeToRetry(err), errors.As(err, &netErr):
		return true
	case errors.Is(err, puddle.ErrClosedPool), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true
	}
	return false
}
