package pgstore

import (
	"context"
	"fmt"

	"github.com/custody/custody/events/eventlog"
)

// IdentityKind is the Kind of a PostgreSQL log's eventlog.Identity.
const IdentityKind = "postgresql"

var _ eventlog.Identifier = (*Store)(nil)

// Identity implements eventlog.Identifier: the id the log's migration
// created with its tables.
func (s *Store) Identity(ctx context.Context) (_ eventlog.Identity, err error) {
	defer func() { err = unavailable(ctx, err) }()
	var id string
	if err := s.pool.QueryRow(ctx, `SELECT log_id::text FROM log_identity`).Scan(&id); err != nil {
		return eventlog.Identity{}, fmt.Errorf("pgstore: log identity: %w", err)
	}
	return eventlog.Identity{Kind: IdentityKind, ID: id}, nil
}
