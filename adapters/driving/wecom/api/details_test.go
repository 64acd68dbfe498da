package api_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/ingest"
	"github.com/custody/custody/adapters/driving/wecom/standin"
	"github.com/custody/custody/events"
)

// conns is a connection.Store stand-in.
type conns struct {
	mu sync.Mutex
	m  map[string]connection.Connection
}

func (c *conns) Get(_ context.Context, corp string) (connection.Connection, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conn, ok := c.m[corp]
	if !ok {
		return connection.Connection{}, connection.ErrNotFound
	}
	return conn, nil
}

func (c *conns) set(conn connection.Connection) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[conn.CorpID] = conn
}

func TestDetailsChat(t *testing.T) {
	e := newEnv(t, "zhangwei", "lina", "wangfang")
	_, err := e.corp.CreateGroup(standin.NewGroup{ChatID: "wrVIP", Name: "VIP 群", Notice: "欢迎", Owner: "zhangwei",
		Members: []standin.Join{
			{ID: "wmcustomer1", Customer: true, Scene: standin.JoinQRCode},
			{ID: "lina", Invitor: "zhangwei"},
			{ID: "wmcustomer2", Customer: true, Scene: standin.JoinLink, Invitor: "lina"},
		}})
	must(t, err)
	cs := &conns{m: map[string]connection.Connection{}}
	cs.set(connection.Connection{CorpID: "acme", WeComCorpID: corpID, Secret: secret, UpdatedAt: time.Unix(1, 0)})
	clients := api.NewClients(cs, e.options())
	d := api.Details{Clients: clients.Client}
	ctx := context.Background()

	got, err := d.Chat(ctx, "acme", "wrVIP")
	must(t, err)
	want := ingest.Chat{OwnerID: "zhangwei", Name: "VIP 群", Notice: "欢迎", Members: []ingest.Member{
		{ID: "zhangwei", Type: events.MemberStaff, JoinScene: events.JoinInvited},
		{ID: "wmcustomer1", Type: events.MemberCustomer, JoinScene: events.JoinQRCode},
		{ID: "lina", Type: events.MemberStaff, JoinScene: events.JoinInvited, InviterID: "zhangwei"},
		{ID: "wmcustomer2", Type: events.MemberCustomer, JoinScene: events.JoinLink, InviterID: "lina"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Chat:\n got %+v\nwant %+v", got, want)
	}
	if _, err := d.Chat(ctx, "acme", "wrnothing"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown chat: %v, want ErrNotFound", err)
	}
	if _, err := d.Chat(ctx, "globex", "wrVIP"); !errors.Is(err, connection.ErrNotFound) {
		t.Errorf("unconnected corp: %v, want connection.ErrNotFound", err)
	}

	// The client is kept while the connection is unchanged (one token),
	// and rebuilt after a reconnect.
	c1, err := clients.Client(ctx, "acme")
	must(t, err)
	c2, err := clients.Client(ctx, "acme")
	must(t, err)
	if c1 != c2 || e.srv.Calls(standin.APIGetToken) != 1 {
		t.Errorf("unchanged connection: new client or %d tokens", e.srv.Calls(standin.APIGetToken))
	}
	cs.set(connection.Connection{CorpID: "acme", WeComCorpID: corpID, Secret: "rotated", UpdatedAt: time.Unix(2, 0)})
	c3, err := clients.Client(ctx, "acme")
	must(t, err)
	if c3 == c1 {
		t.Error("reconnect: the old client was kept")
	}
	if _, err := d.Chat(ctx, "acme", "wrVIP"); !errors.Is(err, api.ErrCredentials) {
		t.Errorf("after a reconnect with a secret WeCom refuses: %v, want ErrCredentials", err)
	}
	cs.set(connection.Connection{CorpID: "acme", WeComCorpID: corpID, UpdatedAt: time.Unix(3, 0)})
	if _, err := clients.Client(ctx, "acme"); !errors.Is(err, api.ErrNoSecret) {
		t.Errorf("no secret: %v, want ErrNoSecret", err)
	}
	// Without a secret custody has no API access: the translator marks
	// details for a fetch instead of stalling on the error.
	if _, err := d.Chat(ctx, "acme", "wrVIP"); !errors.Is(err, ingest.ErrNoDetails) {
		t.Errorf("Chat without a secret: %v, want ingest.ErrNoDetails", err)
	}
	if _, err := d.TagGroup(ctx, "acme", "etX", events.TagKindTag); !errors.Is(err, ingest.ErrNoDetails) {
		t.Errorf("TagGroup without a secret: %v, want ingest.ErrNoDetails", err)
	}
}
