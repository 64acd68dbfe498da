package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/adapters/driving/wecom/inbox"
)

// WeComConnections stores corps' WeCom connections (connection.Store).
type WeComConnections interface {
	Connect(ctx context.Context, c connection.Connection, overlap time.Duration) (connection.Connection, error)
	Get(ctx context.Context, corpID string) (connection.Connection, error)
	Disconnect(ctx context.Context, corpID string) error
}

// WeComInbox shows the callbacks a corp received (inbox.Inbox).
type WeComInbox interface {
	Counts(ctx context.Context, corpID string) (map[string]int, error)
	List(ctx context.Context, corpID, status string, after int64, limit int) ([]inbox.Item, error)
}

// wecomConnectRequest connects a corp to WeCom. Token, EncodingAESKey and
// secret are stored sealed and never returned.
type wecomConnectRequest struct {
	WeComCorpID    string `json:"wecom_corp_id" doc:"WeCom's corpid (我的企业 → 企业ID)"`
	Token          string `json:"token" doc:"the callback Token from WeCom's admin console; secret"`
	EncodingAESKey string `json:"encoding_aes_key" doc:"the 43-character EncodingAESKey; secret"`
	Secret         string `json:"secret,omitempty" doc:"the app secret for WeCom's API; secret; empty keeps the stored one"`
	// OverlapSeconds is how long a replaced Token/EncodingAESKey stays
	// accepted (default 3600, at most 604800).
	OverlapSeconds int `json:"overlap_seconds,omitempty" doc:"how long a replaced Token/EncodingAESKey stays accepted, 1-604800 seconds; default 3600"`
}

// wecomDisconnectRequest takes no field.
type wecomDisconnectRequest struct{}

// WeComConnection is what the API shows of a connection: never a secret.
type WeComConnection struct {
	CorpID       string    `json:"corp_id"`
	WeComCorpID  string    `json:"wecom_corp_id"`
	HasSecret    bool      `json:"has_secret"`
	PreviousKeys int       `json:"previous_keys" doc:"replaced Token/EncodingAESKey pairs still accepted"`
	UpdatedAt    time.Time `json:"updated_at"`
	CallbackPath string    `json:"callback_path" doc:"the path to enter in WeCom's admin console, after your host"`
}

// WeComInboxPage is a corp's callback inbox.
type WeComInboxPage struct {
	Counts map[string]int   `json:"counts" doc:"callbacks per status: pending, done, unknown, rejected"`
	Items  []WeComInboxItem `json:"items"`
	Next   string           `json:"next,omitempty" doc:"cursor of the next page"`
	Status string           `json:"status"`
}

// WeComInboxItem is one stored callback (ids and kinds only).
type WeComInboxItem struct {
	ID         int64      `json:"id"`
	Kind       string     `json:"kind"`
	Subject    string     `json:"subject"`
	WeComTime  *time.Time `json:"wecom_time,omitempty"`
	ReceivedAt time.Time  `json:"received_at"`
	Deliveries int        `json:"deliveries"`
	Attempts   int        `json:"attempts"`
	Note       string     `json:"note,omitempty"`
}

func wecomRoutes() []route {
	const tag = "wecom"
	return []route{
		{method: "PUT", path: "/v1/corps/{corp}/wecom/connection", op: "connectWeCom", tag: tag, write: true,
			summary: "Connect the corp to WeCom: corpid, callback Token and EncodingAESKey, app secret — stored sealed, never returned.",
			request: wecomConnectRequest{}, response: WeComConnection{}, handle: connectWeCom},
		{method: "GET", path: "/v1/corps/{corp}/wecom/connection", op: "getWeComConnection", tag: tag,
			summary: "The corp's WeCom connection, without its secrets.", response: WeComConnection{}, handle: getWeComConnection},
		{method: "DELETE", path: "/v1/corps/{corp}/wecom/connection", op: "disconnectWeCom", tag: tag, write: true, status: http.StatusNoContent,
			summary: "Disconnect the corp from WeCom: its callbacks are refused from then on.", request: wecomDisconnectRequest{}, optionalBody: true,
			handle: disconnectWeCom},
		{method: "GET", path: "/v1/corps/{corp}/wecom/inbox", op: "listWeComInbox", tag: tag,
			summary: "Callbacks received from WeCom, by status, oldest first.", response: WeComInboxPage{},
			query: []queryParam{
				{name: "status", typ: "string", desc: "pending, done, unknown (kinds custody does not translate) or rejected; default pending"},
				{name: "limit", typ: "integer", desc: "page size, 1-500, default 50"},
				{name: "cursor", typ: "string", desc: "the next value of the previous page"},
			}, handle: listWeComInbox},
	}
}

var errWeComNotConfigured = newError(http.StatusNotFound, CodeNotFound, "the WeCom connector is not configured on this server")

func wecomView(c connection.Connection) WeComConnection {
	return WeComConnection{CorpID: c.CorpID, WeComCorpID: c.WeComCorpID, HasSecret: c.Secret != "", PreviousKeys: len(c.Previous),
		UpdatedAt: c.UpdatedAt, CallbackPath: "/wecom/callback/" + c.CorpID}
}

func connectWeCom(c *call) (any, error) {
	store := c.srv.opts.WeComConnections
	if store == nil {
		return nil, errWeComNotConfigured
	}
	var req wecomConnectRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	overlap := connection.DefaultOverlap
	if req.OverlapSeconds != 0 {
		if req.OverlapSeconds < 1 || req.OverlapSeconds > 7*24*3600 {
			return nil, newError(http.StatusBadRequest, CodeInvalidArgument, "overlap_seconds must be between 1 and 604800")
		}
		overlap = time.Duration(req.OverlapSeconds) * time.Second
	}
	saved, err := store.Connect(c.ctx, connection.Connection{
		CorpID: c.corp, WeComCorpID: req.WeComCorpID, Secret: req.Secret,
		Current: connection.Key{Token: req.Token, EncodingAESKey: req.EncodingAESKey},
	}, overlap)
	if err != nil {
		return nil, err
	}
	return wecomView(saved), nil
}

func getWeComConnection(c *call) (any, error) {
	store := c.srv.opts.WeComConnections
	if store == nil {
		return nil, errWeComNotConfigured
	}
	conn, err := store.Get(c.ctx, c.corp)
	if err != nil {
		return nil, err
	}
	return wecomView(conn), nil
}

func disconnectWeCom(c *call) (any, error) {
	store := c.srv.opts.WeComConnections
	if store == nil {
		return nil, errWeComNotConfigured
	}
	var req wecomDisconnectRequest
	if err := c.decodeOptional(&req); err != nil {
		return nil, err
	}
	return nil, store.Disconnect(c.ctx, c.corp)
}

func listWeComInbox(c *call) (any, error) {
	ib := c.srv.opts.WeComInbox
	if ib == nil {
		return nil, errWeComNotConfigured
	}
	status := c.query("status")
	if status == "" {
		status = inbox.StatusPending
	}
	switch status {
	case inbox.StatusPending, inbox.StatusDone, inbox.StatusUnknown, inbox.StatusRejected:
	default:
		return nil, newError(http.StatusBadRequest, CodeInvalidArgument, "status must be pending, done, unknown or rejected")
	}
	limit, err := parseLimit(c.query("limit"), 50, 500)
	if err != nil {
		return nil, err
	}
	var after int64
	if cur := c.query("cursor"); cur != "" {
		if after, err = parseInboxCursor(cur); err != nil {
			return nil, err
		}
	}
	counts, err := ib.Counts(c.ctx, c.corp)
	if err != nil {
		return nil, err
	}
	items, err := ib.List(c.ctx, c.corp, status, after, limit+1)
	if err != nil {
		return nil, err
	}
	page := WeComInboxPage{Counts: counts, Status: status, Items: []WeComInboxItem{}}
	if len(items) > limit {
		items = items[:limit]
		page.Next = formatInboxCursor(items[len(items)-1].ID)
	}
	for _, it := range items {
		v := WeComInboxItem{ID: it.ID, Kind: it.Kind, Subject: it.Subject, ReceivedAt: it.ReceivedAt,
			Deliveries: it.Deliveries, Attempts: it.Attempts, Note: it.LastError}
		if !it.CreateTime.IsZero() {
			t := it.CreateTime
			v.WeComTime = &t
		}
		page.Items = append(page.Items, v)
	}
	return page, nil
}

func formatInboxCursor(id int64) string { return "i" + strconv.FormatInt(id, 10) }

func parseInboxCursor(s string) (int64, error) {
	bad := newError(http.StatusBadRequest, "bad_cursor", "cursor is not one this API returned")
	if len(s) < 2 || len(s) > 20 || s[0] != 'i' {
		return 0, bad
	}
	var n int64
	for _, ch := range s[1:] {
		if ch < '0' || ch > '9' {
			return 0, bad
		}
		n = n*10 + int64(ch-'0')
	}
	return n, nil
}
