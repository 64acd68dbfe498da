package kurrent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/custody/custody/events/eventlog"
)

// IdentityKind is the Kind of a KurrentDB log's eventlog.Identity.
const IdentityKind = "kurrentdb"

// identityStream holds the log's identity: one event, written by the
// first Identity call. It is outside custody's stream prefixes, so ReadAll,
// Head and Subscribe never deliver it, and behind Options.Namespace, so
// each namespace is a log of its own.
const identityStream = "custody-log-identity"

const identityType = "custody.log_identity"

var _ eventlog.Identifier = (*Log)(nil)

// Identity implements eventlog.Identifier: the id in the identity stream,
// written there (expecting no stream, so concurrent first calls agree) when
// the stream does not exist yet.
func (l *Log) Identity(ctx context.Context) (eventlog.Identity, error) {
	for range 2 {
		id, err := l.readIdentity(ctx)
		if err == nil {
			return eventlog.Identity{Kind: IdentityKind, ID: id}, nil
		}
		if !errors.Is(err, eventlog.ErrStreamNotFound) {
			return eventlog.Identity{}, err
		}
		body, _ := json.Marshal(map[string]string{"log_id": uuid.NewString()})
		_, err = l.send(ctx, identityStream, esdb.NoStream{}, []esdb.EventData{{
			EventID: uuid.New(), EventType: identityType, ContentType: esdb.ContentTypeJson, Data: body,
		}})
		if err != nil && !errors.Is(err, errWrongVersion) {
			return eventlog.Identity{}, fmt.Errorf("kurrent: write log identity: %w", err)
		}
		// Written, or another instance wrote it first: read it.
	}
	return eventlog.Identity{}, fmt.Errorf("kurrent: log identity: stream %q not readable after writing it", identityStream)
}

func (l *Log) readIdentity(ctx context.Context) (string, error) {
	var id string
	err := l.readStream(ctx, identityStream, 0, func(ev *esdb.RecordedEvent) error {
		if id != "" {
			return nil
		}
		var body struct {
			LogID string `json:"log_id"`
		}
		if ev.EventType != identityType || json.Unmarshal(ev.Data, &body) != nil {
			return fmt.Errorf("kurrent: stream %q holds a %q event that is not custody's log identity", identityStream, ev.EventType)
		}
		if _, err := uuid.Parse(body.LogID); err != nil {
			return fmt.Errorf("kurrent: stream %q: log id %q: %w", identityStream, body.LogID, err)
		}
		id = body.LogID
		return nil
	})
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", fmt.Errorf("%w: %q", eventlog.ErrStreamNotFound, identityStream)
	}
	return id, nil
}
