package reconcile

import (
	"context"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
)

// tags reconciles the corp's tag catalog with get_corp_tag_list: tag
// groups and tags WeCom has are created (or renamed) in custody, live
// ones WeCom no longer has are deleted. Order is not compared.
func (r *run) tags(ctx context.Context) error {
	groups, err := r.w.CorpTags(ctx, nil, nil)
	if err != nil {
		return err
	}
	have, err := r.rc.o.View.Tags(ctx, r.corp)
	if err != nil {
		return err
	}
	custody := make(map[string]Tag, len(have))
	for _, t := range have {
		custody[t.ID] = t
	}
	type entry struct{ id, kind, group, name string }
	var want []entry
	for _, g := range groups {
		if g.Deleted || !plainID(g.ID) {
			continue
		}
		want = append(want, entry{g.ID, events.TagKindGroup, "", Normalize(g.Name, commands.MaxNameLen)})
		for _, t := range g.Tags {
			if !t.Deleted && plainID(t.ID) {
				want = append(want, entry{t.ID, events.TagKindTag, g.ID, Normalize(t.Name, commands.MaxNameLen)})
			}
		}
	}
	r.rep.WeComTags = len(want)
	listed := map[string]bool{}
	// One stream: corrections in order, on this goroutine.
	for _, e := range want {
		listed[e.id] = true
		if c, ok := custody[e.id]; ok && c.Name == e.name && c.Kind == e.kind {
			continue
		}
		res, err := r.rc.o.Commands.RecordTagChange(ctx, commands.RecordTagChange{
			Meta: r.meta("tag-"+e.id, timeZero), Change: commands.TagChangeCreated, TagID: e.id, Kind: e.kind, GroupID: e.group, Name: e.name,
		})
		kind := "tag_created"
		if _, ok := custody[e.id]; ok {
			kind = "tag_renamed"
		}
		if err := r.recorded(kind, res, err); err != nil {
			return err
		}
	}
	for _, t := range have {
		if listed[t.ID] {
			continue
		}
		res, err := r.rc.o.Commands.RecordTagChange(ctx, commands.RecordTagChange{
			Meta: r.meta("untag-"+t.ID, timeZero), Change: commands.TagChangeDeleted, TagID: t.ID, Kind: t.Kind,
		})
		if err := r.recorded("tag_deleted", res, err); err != nil {
			return err
		}
	}
	return nil
}
