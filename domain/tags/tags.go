// Package tags is a corp's enterprise tag catalog (企业标签): tags and tag
// groups with their names, as WeCom reports them. It records what WeCom
// says and refuses only what cannot be a tag change (an empty id, an
// unknown kind); repeating a fact (creating a tag that exists with the same
// name, deleting a deleted one) records nothing.
package tags

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/custody/custody/events"
)

// MaxNameLength is WeCom's limit of a tag name, in characters.
const MaxNameLength = 30

// ErrInvalidArgument: an empty or over-long id, an unknown kind, an
// over-long name.
var ErrInvalidArgument = errors.New("tags: invalid argument")

// Tag is one catalog entry.
type Tag struct {
	ID      string
	Kind    string
	GroupID string
	Name    string
	Deleted bool
}

// Catalog is a corp's tag catalog, the aggregate of CorpTagsStream.
type Catalog struct {
	version int64
	tags    map[string]*Tag
}

// New returns an empty catalog.
func New() *Catalog { return &Catalog{version: -1, tags: map[string]*Tag{}} }

// Rehydrate rebuilds a catalog from its stream, oldest first.
func Rehydrate(history []events.Recorded) (*Catalog, error) {
	c := New()
	err := events.Replay("tags", history, func(p events.Payload, r events.Recorded) error {
		c.apply(p)
		c.version = r.StreamVersion
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Version is the stream version of the last applied event, -1 for none.
func (c *Catalog) Version() int64 { return c.version }

// Tag returns the entry with id.
func (c *Catalog) Tag(id string) (Tag, bool) {
	t, ok := c.tags[id]
	if !ok {
		return Tag{}, false
	}
	return *t, true
}

func (c *Catalog) apply(p events.Payload) {
	switch e := p.(type) {
	case *events.TagCreated:
		c.tags[e.TagID] = &Tag{ID: e.TagID, Kind: e.Kind, GroupID: e.GroupID, Name: e.Name}
	case *events.TagRenamed:
		t := c.entry(e.TagID, e.Kind)
		t.Name = e.Name
	case *events.TagDeleted:
		c.entry(e.TagID, e.Kind).Deleted = true
	}
}

func (c *Catalog) entry(id, kind string) *Tag {
	t, ok := c.tags[id]
	if !ok {
		t = &Tag{ID: id, Kind: kind}
		c.tags[id] = t
	}
	return t
}

func check(id, kind string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("%w: tag id must be 1-128 bytes", ErrInvalidArgument)
	}
	if kind != events.TagKindTag && kind != events.TagKindGroup {
		return fmt.Errorf("%w: kind %q is not %s or %s", ErrInvalidArgument, kind, events.TagKindTag, events.TagKindGroup)
	}
	return nil
}

func checkName(name string) error {
	if utf8.RuneCountInString(name) > MaxNameLength {
		return fmt.Errorf("%w: tag name over %d characters", ErrInvalidArgument, MaxNameLength)
	}
	return nil
}

// Create records a new tag or tag group. An existing live entry with the
// same name records nothing; with another name, the name changes; a
// deleted one is created again (WeCom reuses no ids, but a late callback
// may repeat one).
func (c *Catalog) Create(id, kind, groupID, name string) ([]events.Payload, error) {
	if err := check(id, kind); err != nil {
		return nil, err
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if t, ok := c.tags[id]; ok && !t.Deleted {
		if name == "" || name == t.Name {
			return nil, nil
		}
		return []events.Payload{&events.TagRenamed{TagID: id, Kind: kind, Name: name}}, nil
	}
	return []events.Payload{&events.TagCreated{TagID: id, Kind: kind, GroupID: groupID, Name: name}}, nil
}

// Rename records a tag's new name; the same name records nothing.
func (c *Catalog) Rename(id, kind, name string) ([]events.Payload, error) {
	if err := check(id, kind); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("%w: empty tag name", ErrInvalidArgument)
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if t, ok := c.tags[id]; ok && t.Name == name {
		return nil, nil
	}
	return []events.Payload{&events.TagRenamed{TagID: id, Kind: kind, Name: name}}, nil
}

// Delete records a tag's deletion; an already deleted one records nothing.
func (c *Catalog) Delete(id, kind string) ([]events.Payload, error) {
	if err := check(id, kind); err != nil {
		return nil, err
	}
	if t, ok := c.tags[id]; ok && t.Deleted {
		return nil, nil
	}
	return []events.Payload{&events.TagDeleted{TagID: id, Kind: kind}}, nil
}

// Reorder records that the order of a group's tags (id set) or of the
// groups (id empty) changed. Each report is a fact of its own.
func (c *Catalog) Reorder(id, kind string) ([]events.Payload, error) {
	if kind != events.TagKindTag && kind != events.TagKindGroup {
		return nil, fmt.Errorf("%w: kind %q", ErrInvalidArgument, kind)
	}
	if len(id) > 128 {
		return nil, fmt.Errorf("%w: tag id over 128 bytes", ErrInvalidArgument)
	}
	return []events.Payload{&events.TagsReordered{TagID: id, Kind: kind}}, nil
}

// Live returns the entries not deleted, by id.
func (c *Catalog) Live() []Tag {
	var out []Tag
	for _, t := range c.tags {
		if !t.Deleted {
			out = append(out, *t)
		}
	}
	slices.SortFunc(out, func(a, b Tag) int { return strings.Compare(a.ID, b.ID) })
	return out
}
