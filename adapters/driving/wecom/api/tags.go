package api

import (
	"context"
	"time"
)

// TagGroup is a group of corp tags (get_corp_tag_list).
type TagGroup struct {
	ID         string
	Name       string
	Order      int
	CreateTime time.Time
	Deleted    bool
	Tags       []Tag
}

// Tag is a corp tag.
type Tag struct {
	ID         string
	Name       string
	Order      int
	CreateTime time.Time
	Deleted    bool
}

// CorpTags returns the corp's tag groups and tags (get_corp_tag_list):
// those of tagIDs when given, else of groupIDs when given, else all, in
// WeCom's order (larger order first).
func (c *Client) CorpTags(ctx context.Context, tagIDs, groupIDs []string) ([]TagGroup, error) {
	var ans struct {
		wireStatus
		TagGroup []struct {
			GroupID    str  `json:"group_id"`
			GroupName  str  `json:"group_name"`
			Order      num  `json:"order"`
			CreateTime num  `json:"create_time"`
			Deleted    flag `json:"deleted"`
			Tag        []struct {
				ID         str  `json:"id"`
				Name       str  `json:"name"`
				Order      num  `json:"order"`
				CreateTime num  `json:"create_time"`
				Deleted    flag `json:"deleted"`
			} `json:"tag"`
		} `json:"tag_group"`
	}
	body := map[string]any{}
	if len(tagIDs) > 0 {
		body["tag_id"] = tagIDs
	}
	if len(groupIDs) > 0 {
		body["group_id"] = groupIDs
	}
	if err := c.do(ctx, request{api: "externalcontact/get_corp_tag_list", method: "POST", body: body}, &ans); err != nil {
		return nil, err
	}
	out := make([]TagGroup, 0, len(ans.TagGroup))
	for _, g := range ans.TagGroup {
		tg := TagGroup{ID: string(g.GroupID), Name: string(g.GroupName), Order: int(g.Order), CreateTime: unix(g.CreateTime), Deleted: bool(g.Deleted)}
		for _, t := range g.Tag {
			tg.Tags = append(tg.Tags, Tag{ID: string(t.ID), Name: string(t.Name), Order: int(t.Order), CreateTime: unix(t.CreateTime), Deleted: bool(t.Deleted)})
		}
		out = append(out, tg)
	}
	return out, nil
}
