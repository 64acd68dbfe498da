package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody/custody/adapters/eventlog/kurrent"
	"github.com/custody/custody/adapters/eventlog/pii"
	"github.com/custody/custody/events/eventlog"
)

// openKurrent opens the KurrentDB log at url (the schemes listed in
// app.go's eventLogOpeners: kurrentdb://host:2113?tls=false for one node,
// kurrentdb+discover://… for a cluster found through DNS, and the client's
// own esdb:// spellings). Personal data is sealed with
// the shared keyring, whose keys stay in PostgreSQL. CUSTODY_KURRENTDB_NAMESPACE,
// when set, prefixes every stream name on the server (several deployments
// sharing one cluster).
func openKurrent(ctx context.Context, url string, _ *pgxpool.Pool, keyring *pii.Keyring, logger *slog.Logger) (eventlog.EventLog, eventlog.Eraser, func(), error) {
	l, err := kurrent.Open(ctx, url, kurrent.Options{
		Keyring:   keyring,
		Logger:    logger,
		Namespace: os.Getenv("CUSTODY_KURRENTDB_NAMESPACE"),
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return l, l, func() {
		if err := l.Close(); err != nil {
			logger.Warn("close the KurrentDB connection", "err", err)
		}
	}, nil
}
