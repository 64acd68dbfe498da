package tags_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/custody/custody/domain/tags"
	"github.com/custody/custody/events"
)

func history(t *testing.T, pays ...events.Payload) []events.Recorded {
	t.Helper()
	var out []events.Recorded
	for i, p := range pays {
		ev, err := events.New(uuid.New(), events.Meta{CorpID: "acme", OccurredAt: time.Unix(1700000000, 0)}, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, events.Recorded{Event: ev, Stream: events.CorpTagsStream("acme"), StreamVersion: int64(i)})
	}
	return out
}

func TestCatalog(t *testing.T) {
	created := &events.TagCreated{TagID: "t1", Kind: events.TagKindTag, GroupID: "g1", Name: "高意向"}
	deleted := &events.TagDeleted{TagID: "t1", Kind: events.TagKindTag}
	cases := []struct {
		name  string
		given []events.Payload
		when  func(*tags.Catalog) ([]events.Payload, error)
		then  []events.Payload
		err   error
	}{
		{"create new", nil, func(c *tags.Catalog) ([]events.Payload, error) { return c.Create("t1", "tag", "g1", "高意向") },
			[]events.Payload{created}, nil},
		{"create again same name", []events.Payload{created},
			func(c *tags.Catalog) ([]events.Payload, error) { return c.Create("t1", "tag", "g1", "高意向") }, nil, nil},
		{"create again without a name", []events.Payload{created},
			func(c *tags.Catalog) ([]events.Payload, error) { return c.Create("t1", "tag", "", "") }, nil, nil},
		{"create again other name renames", []events.Payload{created},
			func(c *tags.Catalog) ([]events.Payload, error) { return c.Create("t1", "tag", "g1", "重点") },
			[]events.Payload{&events.TagRenamed{TagID: "t1", Kind: "tag", Name: "重点"}}, nil},
		{"create after delete", []events.Payload{created, deleted},
			func(c *tags.Catalog) ([]events.Payload, error) { return c.Create("t1", "tag", "g1", "高意向") },
			[]events.Payload{created}, nil},
		{"rename same", []events.Payload{created},
			func(c *tags.Catalog) ([]events.Payload, error) { return c.Rename("t1", "tag", "高意向") }, nil, nil},
		{"rename unknown is recorded", nil,
			func(c *tags.Catalog) ([]events.Payload, error) { return c.Rename("t9", "tag_group", "区域") },
			[]events.Payload{&events.TagRenamed{TagID: "t9", Kind: "tag_group", Name: "区域"}}, nil},
		{"rename empty", []events.Payload{created},
			func(c *tags.Catalog) ([]events.Payload, error) { return c.Rename("t1", "tag", "") }, nil, tags.ErrInvalidArgument},
		{"name of 31 characters", nil,
			func(c *tags.Catalog) ([]events.Payload, error) {
				return c.Create("t1", "tag", "", strings.Repeat("标", 31))
			}, nil, tags.ErrInvalidArgument},
		{"name of 30 characters", nil,
			func(c *tags.Catalog) ([]events.Payload, error) {
				return c.Create("t1", "tag", "", strings.Repeat("标", 30))
			},
			[]events.Payload{&events.TagCreated{TagID: "t1", Kind: "tag", Name: strings.Repeat("标", 30)}}, nil},
		{"delete", []events.Payload{created},
			func(c *tags.Catalog) ([]events.Payload, error) { return c.Delete("t1", "tag") }, []events.Payload{deleted}, nil},
		{"delete twice", []events.Payload{created, deleted},
			func(c *tags.Catalog) ([]events.Payload, error) { return c.Delete("t1", "tag") }, nil, nil},
		{"delete unknown is recorded", nil,
			func(c *tags.Catalog) ([]events.Payload, error) { return c.Delete("t2", "tag") },
			[]events.Payload{&events.TagDeleted{TagID: "t2", Kind: "tag"}}, nil},
		{"unknown kind", nil,
			func(c *tags.Catalog) ([]events.Payload, error) { return c.Delete("t2", "label") }, nil, tags.ErrInvalidArgument},
		{"empty id", nil,
			func(c *tags.Catalog) ([]events.Payload, error) { return c.Create("", "tag", "", "x") }, nil, tags.ErrInvalidArgument},
		{"reorder groups", nil,
			func(c *tags.Catalog) ([]events.Payload, error) { return c.Reorder("", "tag_group") },
			[]events.Payload{&events.TagsReordered{Kind: "tag_group"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tags.Rehydrate(history(t, tc.given...))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.when(c)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("events = %#v, want %#v", got, tc.then)
			}
		})
	}
	c, _ := tags.Rehydrate(history(t, created, &events.TagRenamed{TagID: "t1", Kind: "tag", Name: "重点"}))
	if tg, ok := c.Tag("t1"); !ok || tg.Name != "重点" || tg.GroupID != "g1" || c.Version() != 1 {
		t.Fatalf("state after rename: %+v %v v%d", tg, ok, c.Version())
	}
}
