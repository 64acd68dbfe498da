package standin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
	"time"
)

const testSecret = "app-secret-for-tests"

// apiEnv is a corp served over HTTP by an APIServer sharing its clock.
type apiEnv struct {
	t   *testing.T
	c   *Corp
	clk *clock
	s   *APIServer
	srv *httptest.Server
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	c, clk := newCorp(t)
	s := NewAPIServer(APIOptions{Now: clk.Now})
	s.AddCorp(c, testSecret)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &apiEnv{t: t, c: c, clk: clk, s: s, srv: srv}
}

// call makes one request and decodes the answer into a generic map.
func (e *apiEnv) call(method, api string, q url.Values, body any) map[string]any {
	e.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, e.srv.URL+"/cgi-bin/"+api+"?"+q.Encode(), rd)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("%s: HTTP %d", api, resp.StatusCode)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		e.t.Fatalf("%s: %v", api, err)
	}
	return m
}

func (e *apiEnv) token() string {
	e.t.Helper()
	m := e.call(http.MethodGet, APIGetToken, url.Values{"corpid": {testCorpID}, "corpsecret": {testSecret}}, nil)
	if m["errcode"] != 0.0 || m["expires_in"] != 7200.0 || m["access_token"] == "" {
		e.t.Fatalf("gettoken: %v", m)
	}
	return m["access_token"].(string)
}

func errcode(m map[string]any) int { return int(m["errcode"].(float64)) }

func TestAPIServerTokens(t *testing.T) {
	e := newAPIEnv(t)
	if m := e.call(http.MethodGet, APIGetToken, url.Values{"corpid": {testCorpID}, "corpsecret": {"wrong"}}, nil); errcode(m) != CodeInvalidSecret {
		t.Errorf("wrong secret: %v", m)
	}
	if m := e.call(http.MethodGet, APIGetToken, url.Values{"corpid": {"wwunknown"}, "corpsecret": {testSecret}}, nil); errcode(m) != CodeInvalidCorpID {
		t.Errorf("unknown corp: %v", m)
	}
	if m := e.call(http.MethodGet, APIFollowUserList, nil, nil); errcode(m) != CodeMissingToken {
		t.Errorf("no token: %v", m)
	}
	tok := e.token()
	q := url.Values{"access_token": {tok}}
	if m := e.call(http.MethodGet, APIFollowUserList, q, nil); errcode(m) != 0 || m["errmsg"] != "ok" {
		t.Errorf("fresh token: %v", m)
	}
	e.clk.Add(DefaultTokenTTL)
	if m := e.call(http.MethodGet, APIFollowUserList, q, nil); errcode(m) != CodeTokenExpired {
		t.Errorf("expired token: %v", m)
	}
	tok = e.token()
	e.s.InvalidateTokens()
	if m := e.call(http.MethodGet, APIFollowUserList, url.Values{"access_token": {tok}}, nil); errcode(m) != CodeInvalidToken {
		t.Errorf("invalidated token: %v", m)
	}
	if got := e.s.Calls(APIGetToken); got != 4 {
		t.Errorf("gettoken calls = %d, want 4", got)
	}
}

func TestAPIServerFaultsAndRateLimit(t *testing.T) {
	e := newAPIEnv(t)
	q := url.Values{"access_token": {e.token()}}
	e.s.FailNext("", 2, CodeBusy)
	for i, want := range []int{CodeBusy, CodeBusy, 0} {
		if m := e.call(http.MethodGet, APIFollowUserList, q, nil); errcode(m) != want {
			t.Errorf("call %d: %v, want errcode %d", i, m, want)
		}
	}
	e.s.SetRateLimit(3)
	for i, want := range []int{0, 0, 0, CodeFrequencyLimit} {
		if m := e.call(http.MethodGet, APIFollowUserList, q, nil); errcode(m) != want {
			t.Errorf("limited call %d: %v, want errcode %d", i, m, want)
		}
	}
	if m := e.call(http.MethodPost, APICorpTagList, q, struct{}{}); errcode(m) != 0 {
		t.Errorf("another API is not blocked: %v", m)
	}
	e.clk.Add(time.Minute) // a new minute, but the block lasts a minute from the breach
	e.clk.Add(-time.Second)
	if m := e.call(http.MethodGet, APIFollowUserList, q, nil); errcode(m) != CodeFrequencyLimit {
		t.Errorf("blocked for a minute: %v", m)
	}
	e.clk.Add(time.Second)
	if m := e.call(http.MethodGet, APIFollowUserList, q, nil); errcode(m) != 0 {
		t.Errorf("after the block: %v", m)
	}
	if got := e.s.Calls(APIFollowUserList); got != 9 {
		t.Errorf("calls = %d, want 9", got)
	}
}

// TestAPIServerShapes checks the JSON of groupchat/get and
// batch/get_by_user field by field, as WeCom documents them.
func TestAPIServerShapes(t *testing.T) {
	e := newAPIEnv(t)
	const ext = "wmAAAAcustomer0000000000000001"
	g, _, err := e.c.CreateTagGroup("客户等级", 1, "重要客户")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.AddExternalContact("zhangwei", Customer{ExternalUserID: ext, Name: "王五"}, Add{State: "expo2026", AddWay: 1}); err != nil {
		t.Fatal(err)
	}
	remark := "王总"
	if _, err := e.c.EditExternalContact("zhangwei", ext, Edit{Remark: &remark, AddTags: []string{g.Tags[0].ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreateGroup(NewGroup{ChatID: "wrOgQhDgAAchat", Name: "VIP 群", Notice: "欢迎", Owner: "zhangwei",
		Members: []Join{{ID: ext, Customer: true, Scene: JoinQRCode}, {ID: "lina", Invitor: "zhangwei"}}}); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"access_token": {e.token()}}
	created := float64(e.clk.Now().Unix())

	m := e.call(http.MethodPost, APIGroupChatGet, q, map[string]any{"chat_id": "wrOgQhDgAAchat", "need_name": 1})
	gc := m["group_chat"].(map[string]any)
	want := map[string]any{
		"chat_id": "wrOgQhDgAAchat", "name": "VIP 群", "owner": "zhangwei", "create_time": created, "notice": "欢迎",
		"admin_list": []any{}, "member_version": e.c.Snapshot().Groups[0].MemberVersion,
		"member_list": []any{
			map[string]any{"userid": "zhangwei", "type": 1.0, "join_time": created, "join_scene": 1.0, "group_nickname": "", "name": "张伟"},
			map[string]any{"userid": ext, "type": 2.0, "join_time": created, "join_scene": 3.0, "group_nickname": "", "name": "王五"},
			map[string]any{"userid": "lina", "type": 1.0, "join_time": created, "join_scene": 1.0, "group_nickname": "", "name": "李娜",
				"invitor": map[string]any{"userid": "zhangwei"}},
		},
	}
	if !reflect.DeepEqual(gc, want) {
		t.Errorf("groupchat/get:\n got %v\nwant %v", gc, want)
	}

	m = e.call(http.MethodPost, APIBatchGetByUser, q, map[string]any{"userid_list": []string{"zhangwei"}, "limit": 100})
	wantBatch := []any{map[string]any{
		"external_contact": map[string]any{"external_userid": ext, "name": "王五", "type": 1.0, "avatar": "", "gender": 0.0},
		"follow_info": map[string]any{"userid": "zhangwei", "remark": "王总", "description": "", "createtime": created,
			"tag_id": []any{g.Tags[0].ID}, "remark_corp_name": "", "remark_mobiles": []any{}, "oper_userid": "zhangwei",
			"add_way": 1.0, "state": "expo2026"},
	}}
	if !reflect.DeepEqual(m["external_contact_list"], wantBatch) || m["next_cursor"] != "" {
		t.Errorf("batch/get_by_user:\n got %v\nwant %v", m, wantBatch)
	}

	if m := e.call(http.MethodGet, APIGetContact, url.Values{"access_token": q["access_token"], "external_userid": {"wmnobody"}}, nil); errcode(m) != CodeInvalidExternal {
		t.Errorf("get unknown: %v", m)
	}
	if m := e.call(http.MethodPost, APIGroupChatList, q, map[string]any{"limit": 0}); errcode(m) != CodeInvalidParameter {
		t.Errorf("groupchat/list limit 0: %v", m)
	}
}
