package api

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"
)

// Handover statuses of transfer_result.
const (
	TransferCompleted     = 1
	TransferWaiting       = 2
	TransferRefused       = 3
	TransferLimitExceeded = 4
	TransferNoRecord      = 5
)

const (
	maxTransferCustomers = 100
	maxTransferMessage   = 200 // characters
)

// Transfer asks WeCom to hand customers over from one member to another.
type Transfer struct {
	HandoverUserID string
	TakeoverUserID string
	// ExternalUserIDs: 1 to 100 customers.
	ExternalUserIDs []string
	// Message is sent to the customers (in-service only; at most 200
	// characters; empty for WeCom's default).
	Message string
	// Resigned: HandoverUserID has departed (resigned/transfer_customer)
	// rather than being in service (transfer_customer).
	Resigned bool
}

func (t Transfer) api() string {
	if t.Resigned {
		return "externalcontact/resigned/transfer_customer"
	}
	return "externalcontact/transfer_customer"
}

// TransferOutcome is WeCom's answer for one customer of a Transfer.
type TransferOutcome struct {
	ExternalUserID string
	// Code is WeCom's errcode for this customer: 0 when the handover
	// started (the customer may still refuse it within 24 hours; poll
	// TransferResults), e.g. 40129 when one is already under way.
	Code int
	api  string
}

// Err is nil when the handover started, else an *Error with the code
// (errors.Is(err, ErrNotFound) for an unknown customer or relation).
func (o TransferOutcome) Err() error {
	if o.Code == 0 {
		return nil
	}
	return &Error{API: o.api, Code: o.Code, Msg: "refused for this customer"}
}

// TransferCustomers starts handovers (transfer_customer or
// resigned/transfer_customer) and returns WeCom's outcome per customer, in
// WeCom's order. It is retried only when WeCom certainly did nothing
// (45009, 45033, a refused token): after a timeout, -1 or HTTP 5xx the
// handovers may or may not have started, so the error (ErrTransient) is
// returned for the caller to look with TransferResults before asking
// again. WeCom allows each customer two handovers in 90 days.
func (c *Client) TransferCustomers(ctx context.Context, t Transfer) ([]TransferOutcome, error) {
	api := t.api()
	switch {
	case t.HandoverUserID == "" || t.TakeoverUserID == "":
		return nil, fmt.Errorf("wecom api %s: handover and takeover members are required: %w", api, ErrInvalid)
	case len(t.ExternalUserIDs) == 0 || len(t.ExternalUserIDs) > maxTransferCustomers:
		return nil, fmt.Errorf("wecom api %s: %d customers, want 1 to %d: %w", api, len(t.ExternalUserIDs), maxTransferCustomers, ErrInvalid)
	case utf8.RuneCountInString(t.Message) > maxTransferMessage:
		return nil, fmt.Errorf("wecom api %s: message longer than %d characters: %w", api, maxTransferMessage, ErrInvalid)
	case t.Resigned && t.Message != "":
		return nil, fmt.Errorf("wecom api %s: no message for resigned handovers: %w", api, ErrInvalid)
	}
	body := map[string]any{"handover_userid": t.HandoverUserID, "takeover_userid": t.TakeoverUserID, "external_userid": t.ExternalUserIDs}
	if t.Message != "" {
		body["transfer_success_msg"] = t.Message
	}
	var ans struct {
		wireStatus
		Customer []struct {
			ExternalUserID str `json:"external_userid"`
			ErrCode        num `json:"errcode"`
		} `json:"customer"`
	}
	if err := c.do(ctx, request{api: api, method: "POST", body: body, starts: true}, &ans); err != nil {
		return nil, err
	}
	out := make([]TransferOutcome, 0, len(ans.Customer))
	for _, o := range ans.Customer {
		out = append(out, TransferOutcome{ExternalUserID: string(o.ExternalUserID), Code: int(o.ErrCode), api: api})
	}
	return out, nil
}

// TransferQuery names the handovers TransferResults reports.
type TransferQuery struct {
	HandoverUserID string
	TakeoverUserID string
	// Resigned selects resigned/transfer_result.
	Resigned bool
}

// TransferStatus is one customer's handover status.
type TransferStatus struct {
	ExternalUserID string
	// Status is TransferCompleted … TransferNoRecord.
	Status int
	// TakeoverTime is when the new member took over or, while
	// TransferWaiting, when they will unless the customer refuses.
	TakeoverTime time.Time
}

// TransferResults calls each with every page of the status of the
// handovers from q.HandoverUserID to q.TakeoverUserID (transfer_result or
// resigned/transfer_result, up to 1,000 per page). WeCom sends no
// callback on success: poll while any status is TransferWaiting. Paging
// as in BatchByUser.
func (c *Client) TransferResults(ctx context.Context, q TransferQuery, each func([]TransferStatus) error) error {
	api := "externalcontact/transfer_result"
	if q.Resigned {
		api = "externalcontact/resigned/transfer_result"
	}
	if q.HandoverUserID == "" || q.TakeoverUserID == "" {
		return fmt.Errorf("wecom api %s: handover and takeover members are required: %w", api, ErrInvalid)
	}
	return pages(ctx, api, func(cursor string) (string, error) {
		var ans struct {
			wireStatus
			Customer []struct {
				ExternalUserID str `json:"external_userid"`
				Status         num `json:"status"`
				TakeoverTime   num `json:"takeover_time"`
			} `json:"customer"`
			NextCursor str `json:"next_cursor"`
		}
		body := map[string]any{"handover_userid": q.HandoverUserID, "takeover_userid": q.TakeoverUserID, "cursor": cursor}
		if err := c.do(ctx, request{api: api, method: "POST", body: body}, &ans); err != nil {
			return "", err
		}
		page := make([]TransferStatus, 0, len(ans.Customer))
		for _, s := range ans.Customer {
			page = append(page, TransferStatus{ExternalUserID: string(s.ExternalUserID), Status: int(s.Status), TakeoverTime: unix(s.TakeoverTime)})
		}
		return string(ans.NextCursor), each(page)
	})
}

const maxGroupTransferChats = 100

// GroupTransferFailure is one chat WeCom did not hand over.
type GroupTransferFailure struct {
	ChatID string
	// Code and Msg are WeCom's errcode and errmsg for this chat.
	Code int
	Msg  string
	api  string
}

// Err is the failure as an *Error (errors.Is(err, ErrNotFound) for an
// unknown chat).
func (f GroupTransferFailure) Err() error {
	return &Error{API: f.api, Code: f.Code, Msg: f.Msg}
}

// GroupTransfer gives 1 to 100 group chats a new owner: groupchat/transfer
// when their owner departed (resigned), groupchat/onjob_transfer when the
// owner is in service. WeCom answers only the chats it did not hand over
// (failed_chat_list); every other chat now belongs to newOwner. WeCom has
// no transfer_result for groups: after an ambiguous failure (timeout, -1,
// HTTP 5xx; ErrTransient) the caller looks at GroupChat's owner before
// asking again, so the call is not retried here.
func (c *Client) GroupTransfer(ctx context.Context, chatIDs []string, newOwner string, resigned bool) ([]GroupTransferFailure, error) {
	api := "externalcontact/groupchat/onjob_transfer"
	if resigned {
		api = "externalcontact/groupchat/transfer"
	}
	switch {
	case newOwner == "":
		return nil, fmt.Errorf("wecom api %s: new owner is required: %w", api, ErrInvalid)
	case len(chatIDs) == 0 || len(chatIDs) > maxGroupTransferChats:
		return nil, fmt.Errorf("wecom api %s: %d chats, want 1 to %d: %w", api, len(chatIDs), maxGroupTransferChats, ErrInvalid)
	}
	var ans struct {
		wireStatus
		Failed []struct {
			ChatID  str `json:"chat_id"`
			ErrCode num `json:"errcode"`
			ErrMsg  str `json:"errmsg"`
		} `json:"failed_chat_list"`
	}
	body := map[string]any{"chat_id_list": chatIDs, "new_owner": newOwner}
	if err := c.do(ctx, request{api: api, method: "POST", body: body, starts: true}, &ans); err != nil {
		return nil, err
	}
	out := make([]GroupTransferFailure, 0, len(ans.Failed))
	for _, f := range ans.Failed {
		out = append(out, GroupTransferFailure{ChatID: string(f.ChatID), Code: int(f.ErrCode), Msg: string(f.ErrMsg), api: api})
	}
	return out, nil
}
