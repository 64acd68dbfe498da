package standin

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// MaxTagName is WeCom's limit on a tag or tag group name, in characters.
const MaxTagName = 30

// CreateTagGroup: an admin created a tag group with tags (change_external_tag
// create, Id = the group id, TagType tag_group). Ids are generated ("et…").
// Errors: ErrInvalid (empty or long names, no tags: WeCom refuses an empty
// group), ErrExists (a live group of that name).
func (c *Corp) CreateTagGroup(name string, order int, tags ...string) (TagGroup, Callback, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := c.createTagGroup(name, order, tags)
	if err != nil {
		return TagGroup{}, Callback{}, err
	}
	return g, c.tagCallback("create", g.ID, "tag_group"), nil
}

func (c *Corp) createTagGroup(name string, order int, tags []string) (TagGroup, error) {
	if len(tags) == 0 {
		return TagGroup{}, fmt.Errorf("create tag group: no tags: %w", ErrInvalid)
	}
	for _, n := range append([]string{name}, tags...) {
		if err := checkTagName(n); err != nil {
			return TagGroup{}, fmt.Errorf("create tag group: %w", err)
		}
	}
	for _, g := range c.tagGroups {
		if !g.Deleted && g.Name == name {
			return TagGroup{}, fmt.Errorf("create tag group: %w", ErrExists)
		}
	}
	g := &TagGroup{ID: "et" + c.code("TAGGROUP", 20, name), Name: name, Order: order}
	for i, n := range tags {
		id := "et" + c.code("TAG", 20, n)
		g.Tags = append(g.Tags, Tag{ID: id, Name: n, Order: len(tags) - i})
		c.tagOwner[id] = g.ID
	}
	c.tagGroups[g.ID] = g
	cp := *g
	cp.Tags = slices.Clone(g.Tags)
	return cp, nil
}

// CreateTag: an admin added a tag to a live group (create, TagType tag).
func (c *Corp) CreateTag(groupID, name string, order int) (Tag, Callback, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.createTag(groupID, name, order)
	if err != nil {
		return Tag{}, Callback{}, err
	}
	return t, c.tagCallback("create", t.ID, "tag"), nil
}

func (c *Corp) createTag(groupID, name string, order int) (Tag, error) {
	if err := checkTagName(name); err != nil {
		return Tag{}, fmt.Errorf("create tag: %w", err)
	}
	g, ok := c.tagGroups[groupID]
	if !ok || g.Deleted {
		return Tag{}, fmt.Errorf("create tag: group: %w", ErrNotFound)
	}
	if slices.ContainsFunc(g.Tags, func(t Tag) bool { return !t.Deleted && t.Name == name }) {
		return Tag{}, fmt.Errorf("create tag: %w", ErrExists)
	}
	t := Tag{ID: "et" + c.code("TAG", 20, name), Name: name, Order: order}
	g.Tags = append(g.Tags, t)
	c.tagOwner[t.ID] = g.ID
	return t, nil
}

// UpdateTag: an admin renamed or reordered a live tag or tag group (update,
// TagType tag or tag_group).
func (c *Corp) UpdateTag(id, name string, order int) (Callback, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tagType, err := c.updateTag(id, name, order)
	if err != nil {
		return Callback{}, err
	}
	return c.tagCallback("update", id, tagType), nil
}

func (c *Corp) updateTag(id, name string, order int) (string, error) {
	if err := checkTagName(name); err != nil {
		return "", fmt.Errorf("update tag: %w", err)
	}
	if g, ok := c.tagGroups[id]; ok && !g.Deleted {
		g.Name, g.Order = name, order
		return "tag_group", nil
	}
	t := c.tag(id)
	if t == nil || t.Deleted {
		return "", fmt.Errorf("update tag: %w", ErrNotFound)
	}
	t.Name, t.Order = name, order
	return "tag", nil
}

// DeleteTag: an admin deleted a tag, or a tag group with all its tags
// (delete, TagType tag or tag_group). The tags leave every relation that
// had them, without edit_external_contact callbacks, as in WeCom.
func (c *Corp) DeleteTag(id string) (Callback, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tagType, err := c.deleteTag(id)
	if err != nil {
		return Callback{}, err
	}
	return c.tagCallback("delete", id, tagType), nil
}

func (c *Corp) deleteTag(id string) (string, error) {
	var gone []string
	tagType := "tag"
	if g, ok := c.tagGroups[id]; ok && !g.Deleted {
		g.Deleted, tagType = true, "tag_group"
		for i := range g.Tags {
			if !g.Tags[i].Deleted {
				g.Tags[i].Deleted = true
				gone = append(gone, g.Tags[i].ID)
			}
		}
	} else if t := c.tag(id); t != nil && !t.Deleted {
		t.Deleted = true
		gone = append(gone, id)
	} else {
		return "", fmt.Errorf("delete tag: %w", ErrNotFound)
	}
	for _, f := range c.follows {
		f.TagIDs = slices.DeleteFunc(f.TagIDs, func(t string) bool { return slices.Contains(gone, t) })
	}
	return tagType, nil
}

// ShuffleTags: an admin reordered the tags of group groupID, or the tag
// groups themselves when groupID is "" (shuffle, Id = groupID, omitted
// when "", no TagType, as WeCom documents). ids lists live tags (or
// groups), first shown first; they get orders len(ids) … 1 and the others
// keep theirs.
func (c *Corp) ShuffleTags(groupID string, ids ...string) (Callback, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g, ok := c.tagGroups[groupID]; groupID != "" && (!ok || g.Deleted) {
		return Callback{}, fmt.Errorf("shuffle tags: group: %w", ErrNotFound)
	}
	orders := make([]*int, len(ids)) // checked first, set after: all or nothing
	for i, id := range ids {
		if groupID == "" {
			g, ok := c.tagGroups[id]
			if !ok || g.Deleted {
				return Callback{}, fmt.Errorf("shuffle tags: group: %w", ErrNotFound)
			}
			orders[i] = &g.Order
			continue
		}
		if c.tagOwner[id] != groupID || !c.liveTag(id) {
			return Callback{}, fmt.Errorf("shuffle tags: tag: %w", ErrNotFound)
		}
		orders[i] = &c.tag(id).Order
	}
	for i, o := range orders {
		*o = len(ids) - i
	}
	cb := c.callback(EventExternalTag, "shuffle")
	if groupID != "" {
		cb.Fields = []Field{str("Id", groupID)}
	}
	return cb, nil
}

// CreateTagGroup through the API (add_corp_tag): no callback.
func (a API) CreateTagGroup(name string, order int, tags ...string) (TagGroup, error) {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	return a.c.createTagGroup(name, order, tags)
}

// CreateTag through the API (add_corp_tag): no callback.
func (a API) CreateTag(groupID, name string, order int) (Tag, error) {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	return a.c.createTag(groupID, name, order)
}

// UpdateTag through the API (edit_corp_tag): no callback.
func (a API) UpdateTag(id, name string, order int) error {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	_, err := a.c.updateTag(id, name, order)
	return err
}

// DeleteTag through the API (del_corp_tag): no callback.
func (a API) DeleteTag(id string) error {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	_, err := a.c.deleteTag(id)
	return err
}

func (c *Corp) tagCallback(changeType, id, tagType string) Callback {
	cb := c.callback(EventExternalTag, changeType)
	cb.Fields = []Field{str("Id", id), str("TagType", tagType)}
	return cb
}

// tag finds a tag (not a group) by id, deleted or not.
func (c *Corp) tag(id string) *Tag {
	g, ok := c.tagGroups[c.tagOwner[id]]
	if !ok {
		return nil
	}
	i := slices.IndexFunc(g.Tags, func(t Tag) bool { return t.ID == id })
	if i < 0 {
		return nil
	}
	return &g.Tags[i]
}

func (c *Corp) liveTag(id string) bool {
	t := c.tag(id)
	return t != nil && !t.Deleted
}

func checkTagName(n string) error {
	if n == "" || utf8.RuneCountInString(n) > MaxTagName {
		return fmt.Errorf("tag name empty or longer than %d characters: %w", MaxTagName, ErrInvalid)
	}
	return nil
}
