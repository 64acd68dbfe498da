package commands

import (
	"context"

	"github.com/custody/custody/domain/tags"
	"github.com/custody/custody/events"
)

// Tag changes (RecordTagChange.Change).
const (
	TagChangeCreated   = "created"
	TagChangeRenamed   = "renamed"
	TagChangeDeleted   = "deleted"
	TagChangeReordered = "reordered"
)

// RecordTagChange records a change of the corp's enterprise tag catalog,
// as WeCom reports it.
type RecordTagChange struct {
	Meta
	// Change is TagChangeCreated, TagChangeRenamed, TagChangeDeleted or
	// TagChangeReordered.
	Change string
	// TagID is the tag or tag group (empty only for reordering the groups).
	TagID string
	// Kind is events.TagKindTag or events.TagKindGroup.
	Kind    string
	GroupID string
	// Name is the tag's name when known (required to rename).
	Name string
}

// RecordTagChange appends to the corp's tag stream (events.CorpTagsStream);
// repeating a fact records nothing (see package tags).
func (h *Handler) RecordTagChange(ctx context.Context, cmd RecordTagChange) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	var decide func(*tags.Catalog) ([]events.Payload, error)
	switch cmd.Change {
	case TagChangeCreated:
		decide = func(c *tags.Catalog) ([]events.Payload, error) {
			return c.Create(cmd.TagID, cmd.Kind, cmd.GroupID, cmd.Name)
		}
	case TagChangeRenamed:
		decide = func(c *tags.Catalog) ([]events.Payload, error) { return c.Rename(cmd.TagID, cmd.Kind, cmd.Name) }
	case TagChangeDeleted:
		decide = func(c *tags.Catalog) ([]events.Payload, error) { return c.Delete(cmd.TagID, cmd.Kind) }
	case TagChangeReordered:
		decide = func(c *tags.Catalog) ([]events.Payload, error) { return c.Reorder(cmd.TagID, cmd.Kind) }
	default:
		return Result{}, invalid("change", "%q is not created, renamed, deleted or reordered", cmd.Change)
	}
	return execute(ctx, r, step[*tags.Catalog]{
		stream: events.CorpTagsStream(r.meta.CorpID),
		load:   tags.Rehydrate,
		decide: decide,
	})
}
