package api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/ingest"
	"github.com/custody/custody/events"
)

// Connections gives a custody corp's WeCom connection
// (*connection.Store).
type Connections interface {
	Get(ctx context.Context, corpID string) (connection.Connection, error)
}

// Clients keeps one Client per custody corp, built from the corp's
// connection with shared Options (share Metrics there). A Client lives
// as long as the connection it was built from: when the connection's
// UpdatedAt changes (a reconnect, a new secret), the next Client call
// builds a new one, with a new token cache and rate limiter. It is safe
// for concurrent use.
type Clients struct {
	conns Connections
	o     Options

	mu sync.Mutex
	m  map[string]cachedClient
}

type cachedClient struct {
	updatedAt time.Time
	client    *Client
}

// NewClients returns a cache over conns.
func NewClients(conns Connections, o Options) *Clients {
	return &Clients{conns: conns, o: o, m: map[string]cachedClient{}}
}

// Client returns the corp's client. It reads the connection on every call
// (so a reconnect takes effect at once): connection.ErrNotFound when the
// corp is not connected, ErrNoSecret when it has no app secret.
func (cs *Clients) Client(ctx context.Context, corpID string) (*Client, error) {
	conn, err := cs.conns.Get(ctx, corpID)
	if err != nil {
		return nil, fmt.Errorf("wecom api client for %s: %w", corpID, err)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.m[corpID]; ok && c.updatedAt.Equal(conn.UpdatedAt) {
		return c.client, nil
	}
	c, err := FromConnection(conn, cs.o)
	if err != nil {
		return nil, fmt.Errorf("wecom api client for %s: %w", corpID, err)
	}
	cs.m[corpID] = cachedClient{updatedAt: conn.UpdatedAt, client: c}
	return c, nil
}

// Details implements ingest.Details with groupchat/get.
type Details struct {
	// Clients gives the client of a custody corp (Clients.Client).
	Clients func(ctx context.Context, corpID string) (*Client, error)
}

var _ ingest.Details = Details{}

// Chat fetches the group chatID of custody corp corpID, its members
// mapped to custody's codes: type 2 is a customer, anything else a staff
// member; join_scene 2 is a link, 3 a QR code, anything else (1, or a
// code WeCom adds later) an invitation.
func (d Details) Chat(ctx context.Context, corpID, chatID string) (ingest.Chat, error) {
	c, err := d.client(ctx, corpID)
	if err != nil {
		return ingest.Chat{}, err
	}
	g, err := c.GroupChat(ctx, chatID, false)
	if errors.Is(err, ErrNotFound) {
		return ingest.Chat{}, fmt.Errorf("group %s: %w: %w", chatID, ingest.ErrNotFound, err)
	}
	if err != nil {
		return ingest.Chat{}, err
	}
	out := ingest.Chat{OwnerID: g.Owner, Name: g.Name, Notice: g.Notice}
	for _, m := range g.Members {
		im := ingest.Member{ID: m.UserID, Type: events.MemberStaff, JoinScene: events.JoinInvited, InviterID: m.Invitor}
		if m.Type == MemberCustomer {
			im.Type = events.MemberCustomer
		}
		switch m.JoinScene {
		case JoinLink:
			im.JoinScene = events.JoinLink
		case JoinQRCode:
			im.JoinScene = events.JoinQRCode
		}
		out.Members = append(out.Members, im)
	}
	return out, nil
}

var _ ingest.TagDetails = Details{}

// TagGroup fetches the tag group id (kind tag_group), or the group holding
// the tag id (kind tag), with its live tags (get_corp_tag_list). A group or
// tag WeCom no longer has is ingest.ErrNotFound.
func (d Details) TagGroup(ctx context.Context, corpID, id, kind string) (ingest.TagGroup, error) {
	c, err := d.client(ctx, corpID)
	if err != nil {
		return ingest.TagGroup{}, err
	}
	var tagIDs, groupIDs []string
	if kind == events.TagKindGroup {
		groupIDs = []string{id}
	} else {
		tagIDs = []string{id}
	}
	groups, err := c.CorpTags(ctx, tagIDs, groupIDs)
	if errors.Is(err, ErrNotFound) {
		return ingest.TagGroup{}, fmt.Errorf("tag %s: %w: %w", id, ingest.ErrNotFound, err)
	}
	if err != nil {
		return ingest.TagGroup{}, err
	}
	for _, g := range groups {
		if g.Deleted {
			continue
		}
		out := ingest.TagGroup{ID: g.ID, Name: g.Name}
		holds := kind == events.TagKindGroup && g.ID == id
		for _, t := range g.Tags {
			if t.Deleted {
				continue
			}
			holds = holds || t.ID == id
			out.Tags = append(out.Tags, ingest.Tag{ID: t.ID, Name: t.Name})
		}
		if holds {
			return out, nil
		}
	}
	return ingest.TagGroup{}, fmt.Errorf("tag %s: %w", id, ingest.ErrNotFound)
}

// client is the corp's client; a corp without an app secret (or not
// connected any more) gives custody no API access: ingest.ErrNoDetails.
func (d Details) client(ctx context.Context, corpID string) (*Client, error) {
	c, err := d.Clients(ctx, corpID)
	if errors.Is(err, ErrNoSecret) || errors.Is(err, connection.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ingest.ErrNoDetails, err)
	}
	return c, err
}
