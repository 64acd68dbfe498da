package api

import (
	"context"
	"fmt"
	"time"
)

// Mass messages (客户群发): add_msg_template creates a task; WeCom sends
// nothing until a member confirms it in the client. What was sent is read
// back with get_groupmsg_list_v2 (the corp's messages created in a time
// range), get_groupmsg_task (each member's task) and
// get_groupmsg_send_result (each recipient of a member).

// Chat types of a mass message.
const (
	ChatTypeSingle = "single" // to customers
	ChatTypeGroup  = "group"  // to customer groups
)

// Statuses of get_groupmsg_task and get_groupmsg_send_result.
const (
	TaskUnsent = 0 // the member has not confirmed
	TaskSent   = 2 // the member confirmed

	SendPending    = 0 // not sent yet
	SendSent       = 1
	SendNotFriend  = 2 // failed: the customer is not the member's customer
	SendAlreadyGot = 3 // failed: the customer already received another mass message
)

const (
	// MaxMassMessageRange is the longest start_time..end_time range of
	// get_groupmsg_list_v2.
	MaxMassMessageRange = 31 * 24 * time.Hour
	massListLimit       = 100
	massResultLimit     = 1000
)

// MassMessage is one element of get_groupmsg_list_v2.
type MassMessage struct {
	MsgID string
	// Creator is the member who created it ("" when the corp did);
	// CreateType is 0 (corp) or 1 (member).
	Creator    string
	CreateType int
	CreateTime time.Time
}

// MassTask is one member's task of a mass message (get_groupmsg_task).
type MassTask struct {
	UserID   string
	Status   int // TaskUnsent or TaskSent; others are kept as sent
	SendTime time.Time
}

// MassSend is one recipient of a member's task (get_groupmsg_send_result):
// a customer (ExternalUserID) or a customer group (ChatID).
type MassSend struct {
	ExternalUserID string
	ChatID         string
	UserID         string
	Status         int // SendPending, SendSent, SendNotFriend, SendAlreadyGot; others kept
	SendTime       time.Time
}

// MassMessages calls each with every page of the corp's mass messages of
// chatType created from..to (get_groupmsg_list_v2; at most
// MaxMassMessageRange apart). Paging as in BatchByUser.
func (c *Client) MassMessages(ctx context.Context, chatType string, from, to time.Time, each func([]MassMessage) error) error {
	const api = "externalcontact/get_groupmsg_list_v2"
	if chatType != ChatTypeSingle && chatType != ChatTypeGroup {
		return fmt.Errorf("wecom api %s: chat_type %q: %w", api, chatType, ErrInvalid)
	}
	if from.Unix() <= 0 || to.Before(from) || to.Sub(from) > MaxMassMessageRange {
		return fmt.Errorf("wecom api %s: range %s..%s: %w", api, from, to, ErrInvalid)
	}
	return pages(ctx, api, func(cursor string) (string, error) {
		var ans massListAnswer
		body := map[string]any{"chat_type": chatType, "start_time": from.Unix(), "end_time": to.Unix(), "limit": massListLimit,
			"cursor": cursor}
		if err := c.do(ctx, request{api: api, method: "POST", body: body}, &ans); err != nil {
			return "", err
		}
		return string(ans.NextCursor), each(ans.messages())
	})
}

// MassMessageTasks calls each with every page of a mass message's member
// tasks (get_groupmsg_task).
func (c *Client) MassMessageTasks(ctx context.Context, msgID string, each func([]MassTask) error) error {
	const api = "externalcontact/get_groupmsg_task"
	if msgID == "" {
		return fmt.Errorf("wecom api %s: empty msgid: %w", api, ErrInvalid)
	}
	return pages(ctx, api, func(cursor string) (string, error) {
		var ans massTaskAnswer
		body := map[string]any{"msgid": msgID, "limit": massResultLimit, "cursor": cursor}
		if err := c.do(ctx, request{api: api, method: "POST", body: body}, &ans); err != nil {
			return "", err
		}
		return string(ans.NextCursor), each(ans.tasks())
	})
}

// MassMessageSends calls each with every page of one member's recipients
// of a mass message (get_groupmsg_send_result).
func (c *Client) MassMessageSends(ctx context.Context, msgID, userID string, each func([]MassSend) error) error {
	const api = "externalcontact/get_groupmsg_send_result"
	if msgID == "" || userID == "" {
		return fmt.Errorf("wecom api %s: empty msgid or userid: %w", api, ErrInvalid)
	}
	return pages(ctx, api, func(cursor string) (string, error) {
		var ans massSendAnswer
		body := map[string]any{"msgid": msgID, "userid": userID, "limit": massResultLimit, "cursor": cursor}
		if err := c.do(ctx, request{api: api, method: "POST", body: body}, &ans); err != nil {
			return "", err
		}
		return string(ans.NextCursor), each(ans.sends())
	})
}

// The answers, decoded tolerantly (decode.go): ids and times may come as
// numbers or strings (create_time comes as a string).

type massListAnswer struct {
	wireStatus
	NextCursor   str `json:"next_cursor"`
	GroupMsgList []struct {
		MsgID      str `json:"msgid"`
		Creator    str `json:"creator"`
		CreateTime num `json:"create_time"`
		CreateType num `json:"create_type"`
	} `json:"group_msg_list"`
}

func (a massListAnswer) messages() []MassMessage {
	out := make([]MassMessage, 0, len(a.GroupMsgList))
	for _, m := range a.GroupMsgList {
		if m.MsgID == "" {
			continue
		}
		out = append(out, MassMessage{MsgID: string(m.MsgID), Creator: string(m.Creator), CreateType: int(m.CreateType),
			CreateTime: unix(m.CreateTime)})
	}
	return out
}

type massTaskAnswer struct {
	wireStatus
	NextCursor str `json:"next_cursor"`
	TaskList   []struct {
		UserID   str `json:"userid"`
		Status   num `json:"status"`
		SendTime num `json:"send_time"`
	} `json:"task_list"`
}

func (a massTaskAnswer) tasks() []MassTask {
	out := make([]MassTask, 0, len(a.TaskList))
	for _, t := range a.TaskList {
		if t.UserID == "" {
			continue
		}
		out = append(out, MassTask{UserID: string(t.UserID), Status: int(t.Status), SendTime: unix(t.SendTime)})
	}
	return out
}

type massSendAnswer struct {
	wireStatus
	NextCursor str `json:"next_cursor"`
	SendList   []struct {
		ExternalUserID str `json:"external_userid"`
		ChatID         str `json:"chat_id"`
		UserID         str `json:"userid"`
		Status         num `json:"status"`
		SendTime       num `json:"send_time"`
	} `json:"send_list"`
}

func (a massSendAnswer) sends() []MassSend {
	out := make([]MassSend, 0, len(a.SendList))
	for _, s := range a.SendList {
		if s.ExternalUserID == "" && s.ChatID == "" {
			continue
		}
		out = append(out, MassSend{ExternalUserID: string(s.ExternalUserID), ChatID: string(s.ChatID), UserID: string(s.UserID),
			Status: int(s.Status), SendTime: unix(s.SendTime)})
	}
	return out
}
