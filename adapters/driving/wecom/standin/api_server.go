package standin

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// WeCom errcodes the API server answers. Where WeCom documents no code
// for a refusal the stand-in models (a departed takeover member, say), it
// answers the closest documented one; the message says which case it is.
const (
	CodeBusy             = -1
	CodeInvalidSecret    = 40001
	CodeInvalidUserID    = 40003
	CodeInvalidCorpID    = 40013
	CodeInvalidToken     = 40014
	CodeInvalidChatID    = 40050
	CodeInvalidParameter = 40058
	CodeInvalidExternal  = 40096
	CodeTransferring     = 40129
	CodeMissingToken     = 41001
	CodeTokenExpired     = 42001
	CodeFrequencyLimit   = 45009
	CodeConcurrencyLimit = 45033
	CodeDataFormat       = 47001
	CodeNoRelation       = 84061
	CodeOwnerInService   = 90500 // groupchat/transfer: the owner has not resigned
	CodeOwnerDeparted    = 90502 // groupchat/onjob_transfer: the owner has resigned
)

// DefaultTokenTTL is gettoken's expires_in.
const DefaultTokenTTL = 7200 * time.Second

// TakeoverDelay is how long a customer may refuse a handover before the
// new owner takes over; transfer_result reports StartedAt+TakeoverDelay as
// the future takeover_time of a waiting handover.
const TakeoverDelay = 24 * time.Hour

// API names, as the server counts calls: the path after /cgi-bin/.
const (
	APIGetToken               = "gettoken"
	APIFollowUserList         = "externalcontact/get_follow_user_list"
	APIBatchGetByUser         = "externalcontact/batch/get_by_user"
	APIGetContact             = "externalcontact/get"
	APIUnassignedList         = "externalcontact/get_unassigned_list"
	APIGroupChatList          = "externalcontact/groupchat/list"
	APIGroupChatGet           = "externalcontact/groupchat/get"
	APICorpTagList            = "externalcontact/get_corp_tag_list"
	APITransferCustomer       = "externalcontact/transfer_customer"
	APITransferResult         = "externalcontact/transfer_result"
	APIResignedTransfer       = "externalcontact/resigned/transfer_customer"
	APIResignedTransferResult = "externalcontact/resigned/transfer_result"
	APIGroupTransfer          = "externalcontact/groupchat/transfer"
	APIGroupOnJobTransfer     = "externalcontact/groupchat/onjob_transfer"
)

const (
	// rateLimitBlock is how long WeCom blocks an API after its limit is
	// exceeded.
	rateLimitBlock = time.Minute
	maxRequestBody = 1 << 20
)

// APIOptions configure an APIServer.
type APIOptions struct {
	// Now is the server's clock: token expiry, rate-limit windows, times
	// in answers. Default time.Now. Share it with the corps' clocks (and a
	// client's) to test expiry without waiting.
	Now func() time.Time
	// TokenTTL is gettoken's expires_in; default DefaultTokenTTL.
	TokenTTL time.Duration
	// FollowersPerPage is how many follow_user entries get returns before
	// a next_cursor; default 500, as WeCom documents.
	FollowersPerPage int
}

// APIServer serves the part of WeCom's HTTP API (qyapi.weixin.qq.com,
// paths under /cgi-bin/) that custody calls, for the corps added to it,
// answering from their state in WeCom's JSON shapes: gettoken, and under
// externalcontact/ get_follow_user_list, batch/get_by_user, get,
// get_unassigned_list, groupchat/list, groupchat/get, get_corp_tag_list,
// transfer_customer, transfer_result and their resigned/ forms,
// groupchat/transfer and groupchat/onjob_transfer. Changes made through it
// (handovers) produce no callback, as in WeCom.
//
// Faults for tests: FailNext answers an errcode for the next calls,
// SetRateLimit enforces a per-minute limit per corp and API (exceeding it
// blocks that API for a minute, as WeCom does), InvalidateTokens revokes
// every token issued, SetLatency delays answers. Calls and CallsPerMinute
// count what was asked.
//
// Not modelled: WeCom's hourly and per-IP limits, the 90-day limit on
// handovers of one customer, the 300-per-day limit of group handovers
// and the two-per-90-days limit of in-service group handovers, tag and remark edits through the API (Corp.API
// has them without HTTP), licences (fail_info), customer profiles beyond
// id and name.
//
// It is safe for concurrent use. It never logs.
type APIServer struct {
	now              func() time.Time
	ttl              time.Duration
	followersPerPage int

	mu        sync.Mutex
	corps     map[string]apiCorp // by corpid
	tokens    map[string]issued
	calls     map[string]int
	perMinute map[string]map[time.Time]int
	limited   map[string]map[time.Time]int // corpid + " " + api → minute → calls
	blocked   map[string]time.Time         // corpid + " " + api → until
	faults    []fault
	rate      int
	latency   time.Duration
}

type apiCorp struct {
	corp   *Corp
	secret string
}

type issued struct {
	corpID  string
	expires time.Time
	revoked bool
}

type fault struct {
	api  string
	left int
	code int
}

// NewAPIServer returns a server holding no corp yet.
func NewAPIServer(o APIOptions) *APIServer {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.FollowersPerPage <= 0 {
		o.FollowersPerPage = 500
	}
	return &APIServer{
		now: o.Now, ttl: o.TokenTTL, followersPerPage: o.FollowersPerPage,
		corps: map[string]apiCorp{}, tokens: map[string]issued{}, calls: map[string]int{},
		perMinute: map[string]map[time.Time]int{}, limited: map[string]map[time.Time]int{},
		blocked: map[string]time.Time{},
	}
}

// AddCorp serves c to apps presenting secret (the corpsecret of
// gettoken). Adding a corp again replaces its secret.
func (s *APIServer) AddCorp(c *Corp, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corps[c.CorpID()] = apiCorp{corp: c, secret: secret}
}

// FailNext makes the next n calls of api (an API* name; "" for any API
// but gettoken) answer errcode code (e.g. CodeBusy, CodeFrequencyLimit)
// without doing anything. Faults queue in the order set.
func (s *APIServer) FailNext(api string, n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{api: api, left: n, code: code})
}

// SetRateLimit limits each corp to perMinute calls of each API per
// clock minute (WeCom's published limit is 10,000); the call that exceeds
// it is answered CodeFrequencyLimit and blocks that API for the corp for
// a minute. Zero removes the limit.
func (s *APIServer) SetRateLimit(perMinute int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate = perMinute
	clear(s.blocked)
}

// InvalidateTokens revokes every token issued so far, as WeCom may before
// expires_in: using one is answered CodeInvalidToken.
func (s *APIServer) InvalidateTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.tokens {
		t.revoked = true
		s.tokens[k] = t
	}
}

// SetLatency delays every answer by d (real time; a request whose context
// ends first gets no answer).
func (s *APIServer) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Calls returns how many requests api (an API* name) received, answered
// or failed.
func (s *APIServer) Calls(api string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[api]
}

// CallsPerMinute returns how many requests api received in each minute of
// the server's clock (keys truncated to the minute).
func (s *APIServer) CallsPerMinute(api string) map[time.Time]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[time.Time]int{}
	for k, v := range s.perMinute[api] {
		out[k] = v
	}
	return out
}

// apiError is a WeCom error answer.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return fmt.Sprintf("errcode %d: %s", e.code, e.msg) }

func errorf(code int, format string, args ...any) *apiError {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// status is the errcode/errmsg pair every answer starts with.
type status struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

type endpoint struct {
	method string
	handle func(s *APIServer, c *Corp, r *http.Request, body []byte) (any, error)
}

var endpoints = map[string]endpoint{
	APIFollowUserList:         {http.MethodGet, (*APIServer).followUserList},
	APIBatchGetByUser:         {http.MethodPost, (*APIServer).batchGetByUser},
	APIGetContact:             {http.MethodGet, (*APIServer).getContact},
	APIUnassignedList:         {http.MethodPost, (*APIServer).unassignedList},
	APIGroupChatList:          {http.MethodPost, (*APIServer).groupChatList},
	APIGroupChatGet:           {http.MethodPost, (*APIServer).groupChatGet},
	APICorpTagList:            {http.MethodPost, (*APIServer).corpTagList},
	APITransferCustomer:       {http.MethodPost, (*APIServer).transferCustomer},
	APIResignedTransfer:       {http.MethodPost, (*APIServer).transferCustomer},
	APITransferResult:         {http.MethodPost, (*APIServer).transferResult},
	APIResignedTransferResult: {http.MethodPost, (*APIServer).transferResult},
	APIGroupTransfer:          {http.MethodPost, (*APIServer).groupTransfer},
	APIGroupOnJobTransfer:     {http.MethodPost, (*APIServer).groupTransfer},
	APIAddMsgTemplate:         {http.MethodPost, (*APIServer).addMsgTemplate},
	APIGroupMsgListV2:         {http.MethodPost, (*APIServer).groupMsgListV2},
	APIGroupMsgTask:           {http.MethodPost, (*APIServer).groupMsgTask},
	APIGroupMsgSendResult:     {http.MethodPost, (*APIServer).groupMsgSendResult},
}

// ServeHTTP answers one API request. Like WeCom, it answers HTTP 200 with
// an errcode for every API-level failure.
func (s *APIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	api, ok := strings.CutPrefix(r.URL.Path, "/cgi-bin/")
	ep, known := endpoints[api]
	if !ok || (!known && api != APIGetToken) {
		http.NotFound(w, r)
		return
	}
	code, latency := s.count(api)
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if code != 0 {
		writeAnswer(w, nil, errorf(code, "%s (stand-in fault)", faultMessages[code]))
		return
	}
	if api == APIGetToken {
		v, err := s.getToken(r)
		writeAnswer(w, v, err)
		return
	}
	c, err := s.authorize(api, r.URL.Query().Get("access_token"))
	if err != nil {
		writeAnswer(w, nil, err)
		return
	}
	if r.Method != ep.method {
		writeAnswer(w, nil, errorf(CodeInvalidParameter, "%s only supports %s", api, ep.method))
		return
	}
	var body []byte
	if r.Method == http.MethodPost {
		body, err = io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
		if err != nil {
			writeAnswer(w, nil, errorf(CodeDataFormat, "body: %v", err))
			return
		}
	}
	v, err := ep.handle(s, c, r, body)
	writeAnswer(w, v, err)
}

// count records a call and returns the fault it meets, if any.
func (s *APIServer) count(api string) (code int, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[api]++
	m := s.perMinute[api]
	if m == nil {
		m = map[time.Time]int{}
		s.perMinute[api] = m
	}
	m[s.now().Truncate(time.Minute)]++
	for i := range s.faults {
		f := &s.faults[i]
		if f.left > 0 && (f.api == api || f.api == "" && api != APIGetToken) {
			f.left--
			code = f.code
			break
		}
	}
	return code, s.latency
}

func (s *APIServer) getToken(r *http.Request) (any, error) {
	if r.Method != http.MethodGet {
		return nil, errorf(CodeInvalidParameter, "gettoken only supports GET")
	}
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.corps[q.Get("corpid")]
	if !ok {
		return nil, errorf(CodeInvalidCorpID, "invalid corpid")
	}
	if q.Get("corpsecret") != c.secret || c.secret == "" {
		return nil, errorf(CodeInvalidSecret, "invalid credential")
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.tokens[tok] = issued{corpID: c.corp.CorpID(), expires: s.now().Add(s.ttl)}
	return struct {
		status
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}{status: okStatus, AccessToken: tok, ExpiresIn: int(s.ttl / time.Second)}, nil
}

// authorize checks the token and the rate limit of api for its corp.
func (s *APIServer) authorize(api, token string) (*Corp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token == "" {
		return nil, errorf(CodeMissingToken, "access_token missing")
	}
	t, ok := s.tokens[token]
	switch {
	case !ok || t.revoked:
		return nil, errorf(CodeInvalidToken, "invalid access_token")
	case !s.now().Before(t.expires):
		return nil, errorf(CodeTokenExpired, "access_token expired")
	}
	c, ok := s.corps[t.corpID]
	if !ok {
		return nil, errorf(CodeInvalidToken, "invalid access_token")
	}
	if s.rate > 0 {
		now, key := s.now(), t.corpID+" "+api
		if until, ok := s.blocked[key]; ok && now.Before(until) {
			return nil, errorf(CodeFrequencyLimit, "api freq out of limit")
		}
		m := s.limited[key]
		if m == nil {
			m = map[time.Time]int{}
			s.limited[key] = m
		}
		minute := now.Truncate(time.Minute)
		if m[minute]++; m[minute] > s.rate {
			s.blocked[key] = now.Add(rateLimitBlock)
			return nil, errorf(CodeFrequencyLimit, "api freq out of limit")
		}
	}
	return c.corp, nil
}

// writeAnswer writes v (a struct embedding status) or err as WeCom does:
// HTTP 200, JSON, errcode 0 and errmsg "ok" on success.
func writeAnswer(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = errorf(CodeBusy, "system error")
		}
		_ = json.NewEncoder(w).Encode(status{ErrCode: ae.code, ErrMsg: ae.msg})
		return
	}
	b, mErr := json.Marshal(v)
	if mErr != nil {
		_ = json.NewEncoder(w).Encode(status{ErrCode: CodeBusy, ErrMsg: "system error"})
		return
	}
	_, _ = w.Write(b)
}

// faultMessages are WeCom's errmsg for the codes faults usually inject.
var faultMessages = map[int]string{
	CodeBusy:             "system busy",
	CodeFrequencyLimit:   "api freq out of limit",
	CodeConcurrencyLimit: "api concurrent out of limit",
	CodeInvalidToken:     "invalid access_token",
	CodeTokenExpired:     "access_token expired",
}

// okStatus starts every successful answer.
var okStatus = status{ErrMsg: "ok"}

// decodeBody parses a POST body strictly enough to refuse what WeCom
// refuses (not JSON: CodeDataFormat).
func decodeBody(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(CodeDataFormat, "data format error")
	}
	return nil
}
