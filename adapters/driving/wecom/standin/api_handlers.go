package standin

import (
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// Paging limits, as WeCom documents them.
const (
	maxUserIDs        = 100  // batch/get_by_user userid_list
	maxBatchLimit     = 100  // batch/get_by_user limit (larger is clamped)
	defaultBatchLimit = 50   // batch/get_by_user limit when absent
	maxGroupLimit     = 1000 // groupchat/list limit (1..1000)
	maxOwnerFilter    = 100  // groupchat/list owner_filter.userid_list
	maxUnassignedPage = 1000 // get_unassigned_list page_size
	maxResultPage     = 1000 // transfer_result page
	maxTransfer       = 100  // transfer_customer external_userid
	maxTransferMsg    = 200  // transfer_success_msg, characters
	maxGroupTransfer  = 100  // groupchat/transfer chat_id_list
)

// Cursors are opaque to clients: the key of the last item returned, so a
// page follows on from where the previous ended even when the state
// changed in between.
func encodeCursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// page returns up to limit items after cursor from items sorted by key,
// and the cursor of the next page ("" after the last).
func page[T any](items []T, key func(T) string, cursor string, limit int) ([]T, string, error) {
	i := 0
	if cursor != "" {
		after, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil {
			return nil, "", errorf(CodeInvalidParameter, "invalid cursor")
		}
		i = sort.Search(len(items), func(i int) bool { return key(items[i]) > string(after) })
	}
	end := min(i+limit, len(items))
	next := ""
	if end < len(items) {
		next = encodeCursor(key(items[end-1]))
	}
	return items[i:end], next, nil
}

func followKey(f Follow) string { return f.UserID + "\x00" + f.ExternalUserID }

// externalContact is the customer part of get and batch/get_by_user. The
// stand-in knows names only; type 1 is a WeChat user.
type externalContact struct {
	ExternalUserID string `json:"external_userid"`
	Name           string `json:"name"`
	Type           int    `json:"type"`
	Avatar         string `json:"avatar"`
	Gender         int    `json:"gender"`
}

func contactOf(st State, id string) externalContact {
	ec := externalContact{ExternalUserID: id, Type: 1}
	if i, ok := slices.BinarySearchFunc(st.Customers, id, func(c Customer, id string) int { return strings.Compare(c.ExternalUserID, id) }); ok {
		ec.Name = st.Customers[i].Name
	}
	return ec
}

func (s *APIServer) followUserList(c *Corp, _ *http.Request, _ []byte) (any, error) {
	st := c.Snapshot()
	ids := []string{}
	for _, m := range st.Staff {
		if !m.Departed {
			ids = append(ids, m.UserID)
		}
	}
	return struct {
		status
		FollowUser []string `json:"follow_user"`
	}{okStatus, ids}, nil
}

type followInfo struct {
	UserID         string   `json:"userid"`
	Remark         string   `json:"remark"`
	Description    string   `json:"description"`
	CreateTime     int64    `json:"createtime"`
	TagID          []string `json:"tag_id"`
	RemarkCorpName string   `json:"remark_corp_name"`
	RemarkMobiles  []string `json:"remark_mobiles"`
	OperUserID     string   `json:"oper_userid"`
	AddWay         int      `json:"add_way"`
	State          string   `json:"state,omitempty"`
}

func (s *APIServer) batchGetByUser(c *Corp, _ *http.Request, body []byte) (any, error) {
	var req struct {
		UserIDList []string `json:"userid_list"`
		Cursor     string   `json:"cursor"`
		Limit      int      `json:"limit"`
	}
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	if len(req.UserIDList) == 0 || len(req.UserIDList) > maxUserIDs {
		return nil, errorf(CodeInvalidParameter, "userid_list must hold 1 to %d userids", maxUserIDs)
	}
	limit := req.Limit
	switch {
	case limit <= 0:
		limit = defaultBatchLimit
	case limit > maxBatchLimit:
		limit = maxBatchLimit
	}
	st := c.Snapshot()
	var fs []Follow // sorted by followKey, as st.Follows is
	for _, f := range st.Follows {
		if !f.Deleted && slices.Contains(req.UserIDList, f.UserID) {
			fs = append(fs, f)
		}
	}
	got, next, err := page(fs, followKey, req.Cursor, limit)
	if err != nil {
		return nil, err
	}
	type item struct {
		ExternalContact externalContact `json:"external_contact"`
		FollowInfo      followInfo      `json:"follow_info"`
	}
	items := []item{}
	for _, f := range got {
		items = append(items, item{contactOf(st, f.ExternalUserID), followInfo{
			UserID: f.UserID, Remark: f.Remark, Description: f.Description, CreateTime: f.CreateTime.Unix(),
			TagID: append([]string{}, f.TagIDs...), RemarkMobiles: []string{}, OperUserID: f.UserID,
			AddWay: f.AddWay, State: f.State,
		}})
	}
	return struct {
		status
		ExternalContactList []item `json:"external_contact_list"`
		NextCursor          string `json:"next_cursor"`
	}{okStatus, items, next}, nil
}

func (s *APIServer) getContact(c *Corp, r *http.Request, _ []byte) (any, error) {
	q := r.URL.Query()
	id := q.Get("external_userid")
	st := c.Snapshot()
	if !slices.ContainsFunc(st.Customers, func(cu Customer) bool { return cu.ExternalUserID == id }) {
		return nil, errorf(CodeInvalidExternal, "invalid external userid")
	}
	var fs []Follow
	for _, f := range st.Follows {
		if !f.Deleted && f.ExternalUserID == id {
			fs = append(fs, f)
		}
	}
	if len(fs) == 0 {
		return nil, errorf(CodeNoRelation, "not external contact")
	}
	got, next, err := page(fs, followKey, q.Get("cursor"), s.followersPerPage)
	if err != nil {
		return nil, err
	}
	type tag struct {
		GroupName string `json:"group_name"`
		TagName   string `json:"tag_name"`
		TagID     string `json:"tag_id"`
		Type      int    `json:"type"`
	}
	type follower struct {
		UserID         string   `json:"userid"`
		Remark         string   `json:"remark"`
		Description    string   `json:"description"`
		CreateTime     int64    `json:"createtime"`
		Tags           []tag    `json:"tags"`
		RemarkCorpName string   `json:"remark_corp_name"`
		RemarkMobiles  []string `json:"remark_mobiles"`
		OperUserID     string   `json:"oper_userid"`
		AddWay         int      `json:"add_way"`
		State          string   `json:"state,omitempty"`
	}
	followers := []follower{}
	for _, f := range got {
		fu := follower{UserID: f.UserID, Remark: f.Remark, Description: f.Description, CreateTime: f.CreateTime.Unix(),
			Tags: []tag{}, RemarkMobiles: []string{}, OperUserID: f.UserID, AddWay: f.AddWay, State: f.State}
		for _, id := range f.TagIDs {
			for _, g := range st.TagGroups {
				if i := slices.IndexFunc(g.Tags, func(t Tag) bool { return t.ID == id }); i >= 0 {
					fu.Tags = append(fu.Tags, tag{GroupName: g.Name, TagName: g.Tags[i].Name, TagID: id, Type: 1})
				}
			}
		}
		followers = append(followers, fu)
	}
	return struct {
		status
		ExternalContact externalContact `json:"external_contact"`
		FollowUser      []follower      `json:"follow_user"`
		NextCursor      string          `json:"next_cursor"`
	}{okStatus, contactOf(st, id), followers, next}, nil
}

// unassignedList lists the active relations of departed members that no
// handover is waiting for.
func (s *APIServer) unassignedList(c *Corp, _ *http.Request, body []byte) (any, error) {
	var req struct {
		Cursor   string `json:"cursor"`
		PageSize int    `json:"page_size"`
	}
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	size := req.PageSize
	if size <= 0 || size > maxUnassignedPage {
		size = maxUnassignedPage
	}
	st := c.Snapshot()
	departed := map[string]int64{}
	for _, m := range st.Staff {
		if m.Departed {
			departed[m.UserID] = m.DepartedAt.Unix()
		}
	}
	var fs []Follow
	for _, f := range st.Follows {
		if _, gone := departed[f.UserID]; !gone || f.Deleted {
			continue
		}
		if slices.ContainsFunc(st.Handovers, func(h Handover) bool {
			return h.From == f.UserID && h.ExternalUserID == f.ExternalUserID && h.Status == HandoverWaiting
		}) {
			continue
		}
		fs = append(fs, f)
	}
	got, next, err := page(fs, followKey, req.Cursor, size)
	if err != nil {
		return nil, err
	}
	type info struct {
		HandoverUserID string `json:"handover_userid"`
		ExternalUserID string `json:"external_userid"`
		DimissionTime  int64  `json:"dimission_time"`
	}
	infos := []info{}
	for _, f := range got {
		infos = append(infos, info{f.UserID, f.ExternalUserID, departed[f.UserID]})
	}
	return struct {
		status
		Info       []info `json:"info"`
		IsLast     bool   `json:"is_last"`
		NextCursor string `json:"next_cursor"`
	}{okStatus, infos, next == "", next}, nil
}

func (s *APIServer) groupChatList(c *Corp, _ *http.Request, body []byte) (any, error) {
	var req struct {
		StatusFilter int `json:"status_filter"`
		OwnerFilter  struct {
			UserIDList []string `json:"userid_list"`
		} `json:"owner_filter"`
		Cursor string `json:"cursor"`
		Limit  int    `json:"limit"`
	}
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	if req.Limit < 1 || req.Limit > maxGroupLimit {
		return nil, errorf(CodeInvalidParameter, "limit must be 1 to %d", maxGroupLimit)
	}
	if len(req.OwnerFilter.UserIDList) > maxOwnerFilter {
		return nil, errorf(CodeInvalidParameter, "owner_filter holds more than %d userids", maxOwnerFilter)
	}
	st := c.Snapshot()
	var gs []Group // sorted by chat id, as st.Groups is
	for _, g := range st.Groups {
		if g.Dismissed || req.StatusFilter != 0 && int(g.Status) != req.StatusFilter {
			continue
		}
		if len(req.OwnerFilter.UserIDList) > 0 && !slices.Contains(req.OwnerFilter.UserIDList, g.Owner) {
			continue
		}
		gs = append(gs, g)
	}
	got, next, err := page(gs, func(g Group) string { return g.ChatID }, req.Cursor, req.Limit)
	if err != nil {
		return nil, err
	}
	type ref struct {
		ChatID string `json:"chat_id"`
		Status int    `json:"status"`
	}
	refs := []ref{}
	for _, g := range got {
		refs = append(refs, ref{g.ChatID, int(g.Status)})
	}
	return struct {
		status
		GroupChatList []ref  `json:"group_chat_list"`
		NextCursor    string `json:"next_cursor,omitempty"`
	}{okStatus, refs, next}, nil
}

func (s *APIServer) groupChatGet(c *Corp, _ *http.Request, body []byte) (any, error) {
	var req struct {
		ChatID   string `json:"chat_id"`
		NeedName int    `json:"need_name"`
	}
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	st := c.Snapshot()
	g, found := st.Group(req.ChatID)
	if !found || g.Dismissed {
		return nil, errorf(CodeInvalidChatID, "invalid chatid")
	}
	type invitor struct {
		UserID string `json:"userid"`
	}
	type member struct {
		UserID        string   `json:"userid"`
		Type          int      `json:"type"`
		JoinTime      int64    `json:"join_time"`
		JoinScene     int      `json:"join_scene"`
		Invitor       *invitor `json:"invitor,omitempty"`
		GroupNickname string   `json:"group_nickname"`
		Name          string   `json:"name,omitempty"`
	}
	names := map[string]string{}
	if req.NeedName == 1 {
		for _, m := range st.Staff {
			names[m.UserID] = m.Name
		}
		for _, cu := range st.Customers {
			names[cu.ExternalUserID] = cu.Name
		}
	}
	members := []member{}
	for _, m := range g.Members {
		mm := member{UserID: m.UserID, Type: int(m.Type), JoinTime: m.JoinTime.Unix(), JoinScene: int(m.JoinScene), Name: names[m.UserID]}
		if m.Invitor != "" {
			mm.Invitor = &invitor{m.Invitor}
		}
		members = append(members, mm)
	}
	type chat struct {
		ChatID        string     `json:"chat_id"`
		Name          string     `json:"name"`
		Owner         string     `json:"owner"`
		CreateTime    int64      `json:"create_time"`
		Notice        string     `json:"notice"`
		MemberList    []member   `json:"member_list"`
		AdminList     []struct{} `json:"admin_list"`
		MemberVersion string     `json:"member_version"`
	}
	return struct {
		status
		GroupChat chat `json:"group_chat"`
	}{okStatus, chat{g.ChatID, g.Name, g.Owner, g.CreateTime.Unix(), g.Notice, members, []struct{}{}, g.MemberVersion}}, nil
}

// corpTagList lists live tag groups and tags, larger order first: those
// of tag_id when given, else of group_id when given, else all.
func (s *APIServer) corpTagList(c *Corp, _ *http.Request, body []byte) (any, error) {
	var req struct {
		TagID   []string `json:"tag_id"`
		GroupID []string `json:"group_id"`
	}
	if len(body) > 0 {
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
	}
	type tag struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Order   int    `json:"order"`
		Deleted bool   `json:"deleted"`
	}
	type group struct {
		GroupID   string `json:"group_id"`
		GroupName string `json:"group_name"`
		Order     int    `json:"order"`
		Deleted   bool   `json:"deleted"`
		Tag       []tag  `json:"tag"`
	}
	groups := []group{}
	for _, g := range c.Snapshot().TagGroups {
		if g.Deleted || len(req.TagID) == 0 && len(req.GroupID) > 0 && !slices.Contains(req.GroupID, g.ID) {
			continue
		}
		out := group{GroupID: g.ID, GroupName: g.Name, Order: g.Order, Tag: []tag{}}
		for _, t := range g.Tags {
			if !t.Deleted && (len(req.TagID) == 0 || slices.Contains(req.TagID, t.ID)) {
				out.Tag = append(out.Tag, tag{ID: t.ID, Name: t.Name, Order: t.Order})
			}
		}
		if len(req.TagID) > 0 && len(out.Tag) == 0 {
			continue
		}
		groups = append(groups, out)
	}
	return struct {
		status
		TagGroup []group `json:"tag_group"`
	}{okStatus, groups}, nil
}

// transferCustomer serves transfer_customer (the handover member must be
// in service) and resigned/transfer_customer (they must have departed),
// with an errcode per customer.
func (s *APIServer) transferCustomer(c *Corp, r *http.Request, body []byte) (any, error) {
	resigned := strings.Contains(r.URL.Path, "/resigned/")
	var req struct {
		HandoverUserID string   `json:"handover_userid"`
		TakeoverUserID string   `json:"takeover_userid"`
		ExternalUserID []string `json:"external_userid"`
		Message        string   `json:"transfer_success_msg"`
	}
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	switch {
	case len(req.ExternalUserID) == 0 || len(req.ExternalUserID) > maxTransfer:
		return nil, errorf(CodeInvalidParameter, "external_userid must hold 1 to %d ids", maxTransfer)
	case utf8.RuneCountInString(req.Message) > maxTransferMsg:
		return nil, errorf(CodeInvalidParameter, "transfer_success_msg longer than %d characters", maxTransferMsg)
	case req.HandoverUserID == req.TakeoverUserID:
		return nil, errorf(CodeInvalidParameter, "handover and takeover are the same member")
	}
	st := c.Snapshot()
	staff := func(id string) (Staff, bool) {
		i, ok := slices.BinarySearchFunc(st.Staff, id, func(m Staff, id string) int { return strings.Compare(m.UserID, id) })
		if !ok {
			return Staff{}, false
		}
		return st.Staff[i], true
	}
	if h, ok := staff(req.HandoverUserID); !ok || h.Departed != resigned {
		return nil, errorf(CodeInvalidUserID, "invalid handover_userid (unknown, or departed: %v)", h.Departed)
	}
	if t, ok := staff(req.TakeoverUserID); !ok || t.Departed {
		return nil, errorf(CodeInvalidUserID, "invalid takeover_userid (unknown or departed)")
	}
	type outcome struct {
		ExternalUserID string `json:"external_userid"`
		ErrCode        int    `json:"errcode"`
	}
	out := []outcome{}
	for _, id := range req.ExternalUserID {
		o := outcome{ExternalUserID: id}
		known := slices.ContainsFunc(st.Customers, func(cu Customer) bool { return cu.ExternalUserID == id })
		err := c.API().TransferCustomer(req.HandoverUserID, req.TakeoverUserID, id)
		switch {
		case err == nil:
		case !known:
			o.ErrCode = CodeInvalidExternal
		case errors.Is(err, ErrNotFound):
			o.ErrCode = CodeNoRelation
		case errors.Is(err, ErrState):
			o.ErrCode = CodeTransferring
		default:
			o.ErrCode = CodeInvalidParameter
		}
		out = append(out, o)
	}
	return struct {
		status
		Customer []outcome `json:"customer"`
	}{okStatus, out}, nil
}

// transferResult serves transfer_result and resigned/transfer_result:
// the latest handover of each customer from handover_userid to
// takeover_userid, by external_userid.
func (s *APIServer) transferResult(c *Corp, r *http.Request, body []byte) (any, error) {
	resigned := strings.Contains(r.URL.Path, "/resigned/")
	var req struct {
		HandoverUserID string `json:"handover_userid"`
		TakeoverUserID string `json:"takeover_userid"`
		Cursor         string `json:"cursor"`
	}
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	if req.HandoverUserID == "" || req.TakeoverUserID == "" {
		return nil, errorf(CodeInvalidParameter, "handover_userid and takeover_userid are required")
	}
	var hs []Handover
	for _, h := range c.Snapshot().Handovers {
		if h.From == req.HandoverUserID && h.To == req.TakeoverUserID && h.Resigned == resigned {
			hs = append(hs, h)
		}
	}
	slices.SortFunc(hs, func(a, b Handover) int { return strings.Compare(a.ExternalUserID, b.ExternalUserID) })
	got, next, err := page(hs, func(h Handover) string { return h.ExternalUserID }, req.Cursor, maxResultPage)
	if err != nil {
		return nil, err
	}
	type result struct {
		ExternalUserID string `json:"external_userid"`
		Status         int    `json:"status"`
		TakeoverTime   int64  `json:"takeover_time"`
	}
	out := []result{}
	for _, h := range got {
		at := h.EndedAt
		if h.Status == HandoverWaiting {
			at = h.StartedAt.Add(TakeoverDelay)
		}
		out = append(out, result{h.ExternalUserID, int(h.Status), at.Unix()})
	}
	return struct {
		status
		Customer   []result `json:"customer"`
		NextCursor string   `json:"next_cursor"`
	}{okStatus, out, next}, nil
}

// groupTransfer serves groupchat/transfer (the groups' owner departed) and
// groupchat/onjob_transfer (in service): failed_chat_list names each chat
// not handed over, with its errcode; a departed or unknown new_owner fails
// the whole call.
func (s *APIServer) groupTransfer(c *Corp, r *http.Request, body []byte) (any, error) {
	resigned := !strings.HasSuffix(r.URL.Path, "/onjob_transfer")
	var req struct {
		ChatIDList []string `json:"chat_id_list"`
		NewOwner   string   `json:"new_owner"`
	}
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	switch {
	case len(req.ChatIDList) == 0 || len(req.ChatIDList) > maxGroupTransfer:
		return nil, errorf(CodeInvalidParameter, "chat_id_list must hold 1 to %d ids", maxGroupTransfer)
	case req.NewOwner == "":
		return nil, errorf(CodeInvalidParameter, "new_owner is required")
	}
	st := c.Snapshot()
	if i, ok := slices.BinarySearchFunc(st.Staff, req.NewOwner, func(m Staff, id string) int { return strings.Compare(m.UserID, id) }); !ok || st.Staff[i].Departed {
		return nil, errorf(CodeInvalidUserID, "invalid new_owner (unknown or departed)")
	}
	type failure struct {
		ChatID  string `json:"chat_id"`
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	failed := []failure{}
	for _, id := range req.ChatIDList {
		err := c.API().TransferGroup(id, req.NewOwner, resigned)
		switch {
		case err == nil:
			continue
		case errors.Is(err, ErrOwnerInService):
			failed = append(failed, failure{id, CodeOwnerInService, "group owner has not resigned"})
		case errors.Is(err, ErrOwnerDeparted):
			failed = append(failed, failure{id, CodeOwnerDeparted, "group owner has resigned"})
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrState):
			failed = append(failed, failure{id, CodeInvalidChatID, "invalid chat_id (unknown or dismissed)"})
		default:
			failed = append(failed, failure{id, CodeInvalidParameter, "invalid parameter"})
		}
	}
	return struct {
		status
		FailedChatList []failure `json:"failed_chat_list"`
	}{okStatus, failed}, nil
}
