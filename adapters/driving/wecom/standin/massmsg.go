package standin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Mass messages (客户群发, add_msg_template): a corp creates a task for
// one or more members; nothing is sent until a member confirms it in the
// client, and then each recipient is reached or fails. The results are
// read with get_groupmsg_list_v2 (the corp's messages in a time range),
// get_groupmsg_task (each member's task) and get_groupmsg_send_result
// (each recipient of a member).

// Mass-message APIs.
const (
	APIAddMsgTemplate       = "externalcontact/add_msg_template"
	APIGroupMsgListV2       = "externalcontact/get_groupmsg_list_v2"
	APIGroupMsgTask         = "externalcontact/get_groupmsg_task"
	APIGroupMsgSendResult   = "externalcontact/get_groupmsg_send_result"
	maxGroupMsgListPage     = 100
	maxGroupMsgResultPage   = 1000
	maxGroupMsgListInterval = 31 * 24 * time.Hour
)

// Send statuses of get_groupmsg_send_result.
const (
	SendPending     = 0 // not sent yet
	SendSent        = 1
	SendNotFriend   = 2 // the customer is not (any more) the member's customer
	SendAlreadyGot  = 3 // the customer already received another mass message
	TaskUnsent      = 0 // get_groupmsg_task: the member has not confirmed
	TaskSent        = 2 // the member confirmed
	ChatTypeSingle  = "single"
	ChatTypeGroup   = "group"
	createdByCorp   = 0 // create_type: the corp (admin or API)
	createdByMember = 1
)

// MassMessage is one add_msg_template task.
type MassMessage struct {
	MsgID      string
	ChatType   string // ChatTypeSingle or ChatTypeGroup
	Creator    string
	CreateTime time.Time
	Text       string
	Tasks      []MassTask
}

// MassTask is one member's part of a MassMessage.
type MassTask struct {
	UserID   string
	Status   int // TaskUnsent or TaskSent
	SendTime time.Time
	Results  []MassResult
}

// MassResult is one recipient of a member's task: a customer
// (ExternalUserID) or a customer group (ChatID).
type MassResult struct {
	ExternalUserID string
	ChatID         string
	Status         int
	SendTime       time.Time
}

type massMessages struct {
	byID  map[string]*MassMessage
	order []string
}

func (c *Corp) massLocked() *massMessages {
	if c.mass == nil {
		c.mass = &massMessages{byID: map[string]*MassMessage{}}
	}
	return c.mass
}

// AddMsgTemplate creates a mass-message task as add_msg_template does:
// chat type single sends to customers (recipients are external_userids;
// without a sender, every active member following one of them gets a
// task for their own), group to the customer groups the sender owns
// (chat_ids; sender required). Recipients the sender cannot reach are
// returned in failed; with none left the call fails.
func (c *Corp) AddMsgTemplate(chatType, sender string, recipients []string, text string) (msgID string, failed []string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := &MassMessage{ChatType: chatType, Creator: sender, CreateTime: c.now(), Text: text}
	tasks := map[string]*MassTask{}
	task := func(u string) *MassTask {
		if tasks[u] == nil {
			tasks[u] = &MassTask{UserID: u}
		}
		return tasks[u]
	}
	switch chatType {
	case ChatTypeSingle:
		for _, id := range recipients {
			found := false
			for p, f := range c.follows {
				if p.externalUserID != id || f.Deleted || f.Half || sender != "" && p.userID != sender {
					continue
				}
				if s := c.staff[p.userID]; s == nil || s.Departed {
					continue
				}
				t := task(p.userID)
				t.Results = append(t.Results, MassResult{ExternalUserID: id})
				found = true
			}
			if !found {
				failed = append(failed, id)
			}
		}
	case ChatTypeGroup:
		if sender == "" {
			return "", nil, errorf(CodeInvalidParameter, "sender is required for chat_type group")
		}
		for _, id := range recipients {
			g := c.groups[id]
			if g == nil || g.Dismissed || g.Owner != sender {
				failed = append(failed, id)
				continue
			}
			t := task(sender)
			t.Results = append(t.Results, MassResult{ChatID: id})
		}
	default:
		return "", nil, errorf(CodeInvalidParameter, "chat_type %q", chatType)
	}
	if len(tasks) == 0 {
		return "", failed, errorf(CodeInvalidParameter, "no recipient can be reached")
	}
	c.seq++
	m.MsgID = fmt.Sprintf("msgGCA%06d", c.seq)
	for _, t := range tasks {
		m.Tasks = append(m.Tasks, *t)
	}
	slices.SortFunc(m.Tasks, func(a, b MassTask) int { return strings.Compare(a.UserID, b.UserID) })
	mm := c.massLocked()
	mm.byID[m.MsgID] = m
	mm.order = append(mm.order, m.MsgID)
	return m.MsgID, failed, nil
}

// ConfirmMassMessage is a member confirming their task in the client:
// each recipient is sent now, or fails with SendNotFriend when the member
// no longer follows the customer (or no longer owns the group).
func (c *Corp) ConfirmMassMessage(msgID, userID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.massLocked().byID[msgID]
	if m == nil {
		return fmt.Errorf("standin: no mass message %s", msgID)
	}
	i := slices.IndexFunc(m.Tasks, func(t MassTask) bool { return t.UserID == userID })
	if i < 0 || m.Tasks[i].Status == TaskSent {
		return fmt.Errorf("standin: no unsent task of %s in %s", userID, msgID)
	}
	now := c.now()
	t := &m.Tasks[i]
	t.Status, t.SendTime = TaskSent, now
	for j := range t.Results {
		r := &t.Results[j]
		ok := false
		if r.ChatID != "" {
			g := c.groups[r.ChatID]
			ok = g != nil && !g.Dismissed && g.Owner == userID
		} else {
			f := c.follows[pair{userID, r.ExternalUserID}]
			ok = f != nil && !f.Deleted
		}
		r.Status = SendNotFriend
		if ok {
			r.Status, r.SendTime = SendSent, now
		}
	}
	return nil
}

// MassMessages returns a copy of the corp's mass messages, oldest first.
func (c *Corp) MassMessages() []MassMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []MassMessage
	for _, id := range c.massLocked().order {
		m := *c.mass.byID[id]
		m.Tasks = slices.Clone(m.Tasks)
		for i := range m.Tasks {
			m.Tasks[i].Results = slices.Clone(m.Tasks[i].Results)
		}
		out = append(out, m)
	}
	return out
}

func (s *APIServer) addMsgTemplate(c *Corp, _ *http.Request, body []byte) (any, error) {
	var req struct {
		ChatType       string   `json:"chat_type"`
		ExternalUserID []string `json:"external_userid"`
		ChatIDList     []string `json:"chat_id_list"`
		Sender         string   `json:"sender"`
		Text           struct {
			Content string `json:"content"`
		} `json:"text"`
	}
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	if req.ChatType == "" {
		req.ChatType = ChatTypeSingle
	}
	recipients := req.ExternalUserID
	if req.ChatType == ChatTypeGroup {
		recipients = req.ChatIDList
	}
	id, failed, err := c.AddMsgTemplate(req.ChatType, req.Sender, recipients, req.Text.Content)
	if err != nil {
		return nil, err
	}
	return struct {
		status
		FailList []string `json:"fail_list"`
		MsgID    string   `json:"msgid"`
	}{okStatus, append([]string{}, failed...), id}, nil
}

func (s *APIServer) groupMsgListV2(c *Corp, _ *http.Request, body []byte) (any, error) {
	var req struct {
		ChatType  string `json:"chat_type"`
		StartTime int64  `json:"start_time"`
		EndTime   int64  `json:"end_time"`
		Creator   string `json:"creator"`
		Limit     int    `json:"limit"`
		Cursor    string `json:"cursor"`
	}
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	from, to := time.Unix(req.StartTime, 0), time.Unix(req.EndTime, 0)
	if req.StartTime <= 0 || req.EndTime < req.StartTime || to.Sub(from) > maxGroupMsgListInterval {
		return nil, errorf(CodeInvalidParameter, "start_time and end_time must span at most one month")
	}
	if req.ChatType == "" {
		req.ChatType = ChatTypeSingle
	}
	if req.Limit <= 0 || req.Limit > maxGroupMsgListPage {
		req.Limit = maxGroupMsgListPage
	}
	var ms []MassMessage
	for _, m := range c.MassMessages() {
		if m.ChatType == req.ChatType && !m.CreateTime.Before(from) && !m.CreateTime.After(to) &&
			(req.Creator == "" || m.Creator == req.Creator) {
			ms = append(ms, m)
		}
	}
	slices.SortFunc(ms, func(a, b MassMessage) int { return strings.Compare(a.MsgID, b.MsgID) })
	got, next, err := page(ms, func(m MassMessage) string { return m.MsgID }, req.Cursor, req.Limit)
	if err != nil {
		return nil, err
	}
	type text struct {
		Content string `json:"content"`
	}
	type msg struct {
		MsgID      string `json:"msgid"`
		Creator    string `json:"creator,omitempty"`
		CreateTime string `json:"create_time"` // WeCom sends it as a string
		CreateType int    `json:"create_type"`
		Text       text   `json:"text"`
	}
	out := []msg{}
	for _, m := range got {
		ct := createdByCorp
		if m.Creator != "" {
			ct = createdByMember
		}
		out = append(out, msg{m.MsgID, m.Creator, fmt.Sprint(m.CreateTime.Unix()), ct, text{m.Text}})
	}
	return struct {
		status
		NextCursor   string `json:"next_cursor"`
		GroupMsgList []msg  `json:"group_msg_list"`
	}{okStatus, next, out}, nil
}

func (s *APIServer) massMessage(c *Corp, body []byte, v any) (MassMessage, error) {
	if err := decodeBody(body, v); err != nil {
		return MassMessage{}, err
	}
	var id struct {
		MsgID string `json:"msgid"`
	}
	_ = json.Unmarshal(body, &id)
	for _, m := range c.MassMessages() {
		if m.MsgID == id.MsgID {
			return m, nil
		}
	}
	return MassMessage{}, errorf(CodeInvalidParameter, "invalid msgid %q", id.MsgID)
}

func resultLimit(n int) int {
	if n <= 0 || n > maxGroupMsgResultPage {
		return 500
	}
	return n
}

func (s *APIServer) groupMsgTask(c *Corp, _ *http.Request, body []byte) (any, error) {
	var req struct {
		MsgID  string `json:"msgid"`
		Limit  int    `json:"limit"`
		Cursor string `json:"cursor"`
	}
	m, err := s.massMessage(c, body, &req)
	if err != nil {
		return nil, err
	}
	got, next, err := page(m.Tasks, func(t MassTask) string { return t.UserID }, req.Cursor, resultLimit(req.Limit))
	if err != nil {
		return nil, err
	}
	type task struct {
		UserID   string `json:"userid"`
		Status   int    `json:"status"`
		SendTime int64  `json:"send_time,omitempty"`
	}
	out := []task{}
	for _, t := range got {
		tk := task{UserID: t.UserID, Status: t.Status}
		if t.Status == TaskSent {
			tk.SendTime = t.SendTime.Unix()
		}
		out = append(out, tk)
	}
	return struct {
		status
		NextCursor string `json:"next_cursor"`
		TaskList   []task `json:"task_list"`
	}{okStatus, next, out}, nil
}

func (s *APIServer) groupMsgSendResult(c *Corp, _ *http.Request, body []byte) (any, error) {
	var req struct {
		MsgID  string `json:"msgid"`
		UserID string `json:"userid"`
		Limit  int    `json:"limit"`
		Cursor string `json:"cursor"`
	}
	m, err := s.massMessage(c, body, &req)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(m.Tasks, func(t MassTask) bool { return t.UserID == req.UserID })
	if i < 0 {
		return nil, errorf(CodeInvalidParameter, "invalid userid %q", req.UserID)
	}
	rs := slices.Clone(m.Tasks[i].Results)
	key := func(r MassResult) string { return r.ExternalUserID + r.ChatID }
	slices.SortFunc(rs, func(a, b MassResult) int { return strings.Compare(key(a), key(b)) })
	got, next, err := page(rs, key, req.Cursor, resultLimit(req.Limit))
	if err != nil {
		return nil, err
	}
	type result struct {
		ExternalUserID string `json:"external_userid,omitempty"`
		ChatID         string `json:"chat_id,omitempty"`
		UserID         string `json:"userid"`
		Status         int    `json:"status"`
		SendTime       int64  `json:"send_time,omitempty"`
	}
	out := []result{}
	for _, r := range got {
		x := result{ExternalUserID: r.ExternalUserID, ChatID: r.ChatID, UserID: req.UserID, Status: r.Status}
		if r.Status == SendSent {
			x.SendTime = r.SendTime.Unix()
		}
		out = append(out, x)
	}
	return struct {
		status
		NextCursor string   `json:"next_cursor"`
		SendList   []result `json:"send_list"`
	}{okStatus, next, out}, nil
}
