package api

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// WeCom's paging bounds for contacts.
const (
	maxUserIDsPerCall = 100  // batch/get_by_user userid_list
	batchLimit        = 100  // batch/get_by_user limit
	unassignedPage    = 1000 // get_unassigned_list page_size
)

// Customer is an external contact as get and batch/get_by_user describe
// it. Name and the rest are personal data: handle them as such.
type Customer struct {
	ExternalUserID string
	Name           string
	// Type is 1 for a WeChat user, 2 for a WeCom user.
	Type     int
	Gender   int
	UnionID  string
	Avatar   string
	Position string
	CorpName string
}

// Follow is a member's relation with a customer (follow_info of
// batch/get_by_user, an element of get's follow_user).
type Follow struct {
	UserID      string
	Remark      string
	Description string
	CreateTime  time.Time
	// TagIDs are the corp tags on the relation.
	TagIDs []string
	// Tags have names too; get gives them, batch/get_by_user does not.
	Tags []FollowTag
	// AddWay is WeCom's open enumeration; unknown codes are kept as sent.
	AddWay         int
	State          string
	OperUserID     string
	RemarkCorpName string
	RemarkMobiles  []string
}

// FollowTag is a tag on a relation, as get gives it.
type FollowTag struct {
	GroupName, TagName, TagID string
	// Type is 1 corp tag, 2 a member's personal tag, 3 a rule tag.
	Type int
}

// Relation is one element of batch/get_by_user: a customer and one
// member's relation with them.
type Relation struct {
	Customer Customer
	Follow   Follow
}

// Unassigned is a customer of a departed member waiting to be handed over
// (get_unassigned_list).
type Unassigned struct {
	HandoverUserID string
	ExternalUserID string
	DimissionTime  time.Time
}

type wireCustomer struct {
	ExternalUserID str `json:"external_userid"`
	Name           str `json:"name"`
	Type           num `json:"type"`
	Gender         num `json:"gender"`
	UnionID        str `json:"unionid"`
	Avatar         str `json:"avatar"`
	Position       str `json:"position"`
	CorpName       str `json:"corp_name"`
}

func (w wireCustomer) customer() Customer {
	return Customer{ExternalUserID: string(w.ExternalUserID), Name: string(w.Name), Type: int(w.Type), Gender: int(w.Gender),
		UnionID: string(w.UnionID), Avatar: string(w.Avatar), Position: string(w.Position), CorpName: string(w.CorpName)}
}

type wireFollow struct {
	UserID      str   `json:"userid"`
	Remark      str   `json:"remark"`
	Description str   `json:"description"`
	CreateTime  num   `json:"createtime"`
	TagID       []str `json:"tag_id"`
	Tags        []struct {
		GroupName str `json:"group_name"`
		TagName   str `json:"tag_name"`
		TagID     str `json:"tag_id"`
		Type      num `json:"type"`
	} `json:"tags"`
	AddWay         num   `json:"add_way"`
	State          str   `json:"state"`
	OperUserID     str   `json:"oper_userid"`
	RemarkCorpName str   `json:"remark_corp_name"`
	RemarkMobiles  []str `json:"remark_mobiles"`
}

func (w wireFollow) follow() Follow {
	f := Follow{UserID: string(w.UserID), Remark: string(w.Remark), Description: string(w.Description),
		CreateTime: unix(w.CreateTime), TagIDs: plain(w.TagID), AddWay: int(w.AddWay), State: string(w.State),
		OperUserID: string(w.OperUserID), RemarkCorpName: string(w.RemarkCorpName), RemarkMobiles: plain(w.RemarkMobiles)}
	for _, t := range w.Tags {
		f.Tags = append(f.Tags, FollowTag{GroupName: string(t.GroupName), TagName: string(t.TagName), TagID: string(t.TagID), Type: int(t.Type)})
		if len(w.TagID) == 0 && t.TagID != "" {
			f.TagIDs = append(f.TagIDs, string(t.TagID))
		}
	}
	return f
}

// FollowUsers returns the members with customer contact enabled
// (get_follow_user_list).
func (c *Client) FollowUsers(ctx context.Context) ([]string, error) {
	var ans struct {
		wireStatus
		FollowUser []str `json:"follow_user"`
	}
	if err := c.do(ctx, request{api: "externalcontact/get_follow_user_list", method: "GET"}, &ans); err != nil {
		return nil, err
	}
	return plain(ans.FollowUser), nil
}

// BatchByUser calls each with every page of the relations of userIDs
// (batch/get_by_user), 100 members per call and 100 relations per page,
// following next_cursor until it is empty. Pages come in WeCom's order;
// each callback returns before the next page is asked for, and an error
// it returns stops the paging and is returned as is. A failure after some
// pages leaves those pages delivered: callers that need all or nothing
// collect first.
func (c *Client) BatchByUser(ctx context.Context, userIDs []string, each func([]Relation) error) error {
	for len(userIDs) > 0 {
		chunk := userIDs[:min(maxUserIDsPerCall, len(userIDs))]
		userIDs = userIDs[len(chunk):]
		err := pages(ctx, "externalcontact/batch/get_by_user", func(cursor string) (string, error) {
			var ans struct {
				wireStatus
				ExternalContactList []struct {
					ExternalContact wireCustomer `json:"external_contact"`
					FollowInfo      wireFollow   `json:"follow_info"`
				} `json:"external_contact_list"`
				NextCursor str `json:"next_cursor"`
			}
			body := map[string]any{"userid_list": chunk, "cursor": cursor, "limit": batchLimit}
			if err := c.do(ctx, request{api: "externalcontact/batch/get_by_user", method: "POST", body: body}, &ans); err != nil {
				return "", err
			}
			page := make([]Relation, 0, len(ans.ExternalContactList))
			for _, r := range ans.ExternalContactList {
				page = append(page, Relation{Customer: r.ExternalContact.customer(), Follow: r.FollowInfo.follow()})
			}
			return string(ans.NextCursor), each(page)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Contact returns a customer and all their followers (get), following
// next_cursor for customers with more than 500 followers. ErrNotFound
// (40096, 84061) when WeCom does not know the customer or no member
// follows them.
func (c *Client) Contact(ctx context.Context, externalUserID string) (Customer, []Follow, error) {
	if externalUserID == "" {
		return Customer{}, nil, fmt.Errorf("wecom api externalcontact/get: empty external_userid: %w", ErrInvalid)
	}
	var cu Customer
	var fs []Follow
	err := pages(ctx, "externalcontact/get", func(cursor string) (string, error) {
		var ans struct {
			wireStatus
			ExternalContact wireCustomer `json:"external_contact"`
			FollowUser      []wireFollow `json:"follow_user"`
			NextCursor      str          `json:"next_cursor"`
		}
		q := url.Values{"external_userid": {externalUserID}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		if err := c.do(ctx, request{api: "externalcontact/get", method: "GET", query: q}, &ans); err != nil {
			return "", err
		}
		cu = ans.ExternalContact.customer()
		for _, f := range ans.FollowUser {
			fs = append(fs, f.follow())
		}
		return string(ans.NextCursor), nil
	})
	if err != nil {
		return Customer{}, nil, err
	}
	return cu, fs, nil
}

// Unassigned calls each with every page of the customers of departed
// members (get_unassigned_list, 1,000 per page). Members who only own
// groups are not listed. Paging as in BatchByUser.
func (c *Client) Unassigned(ctx context.Context, each func([]Unassigned) error) error {
	return pages(ctx, "externalcontact/get_unassigned_list", func(cursor string) (string, error) {
		var ans struct {
			wireStatus
			Info []struct {
				HandoverUserID str `json:"handover_userid"`
				ExternalUserID str `json:"external_userid"`
				DimissionTime  num `json:"dimission_time"`
			} `json:"info"`
			NextCursor str `json:"next_cursor"`
		}
		body := map[string]any{"cursor": cursor, "page_size": unassignedPage}
		if err := c.do(ctx, request{api: "externalcontact/get_unassigned_list", method: "POST", body: body}, &ans); err != nil {
			return "", err
		}
		page := make([]Unassigned, 0, len(ans.Info))
		for _, u := range ans.Info {
			page = append(page, Unassigned{HandoverUserID: string(u.HandoverUserID), ExternalUserID: string(u.ExternalUserID), DimissionTime: unix(u.DimissionTime)})
		}
		return string(ans.NextCursor), each(page)
	})
}

// pages calls fetch with "" and then each next cursor it returns, until
// one is empty. A cursor seen before is an error (ErrDecode) rather than
// an endless loop.
func pages(ctx context.Context, api string, fetch func(cursor string) (next string, err error)) error {
	seen := map[string]bool{"": true}
	cursor := ""
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("wecom api %s: %w", api, err)
		}
		next, err := fetch(cursor)
		if err != nil || next == "" {
			return err
		}
		if seen[next] {
			return fmt.Errorf("wecom api %s: cursor repeats: %w", api, ErrDecode)
		}
		seen[next] = true
		cursor = next
	}
}
