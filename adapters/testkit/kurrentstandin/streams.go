package kurrentstandin

import (
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// streamsService implements event_store.client.streams.Streams: Append and
// Read. Delete, Tombstone and BatchAppend answer Unimplemented.
type streamsService struct {
	api.UnimplementedStreamsServer
	s *Server
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// Append stores one batch: an options message, then the proposed events.
func (svc *streamsService) Append(srv api.Streams_AppendServer) error {
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return invalid("append: the first message must carry the options")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	if stream == "" {
		return invalid("append: empty stream name")
	}
	var (
		msgs []*api.AppendReq_ProposedMessage
		size int
	)
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		m := req.GetProposedMessage()
		if m == nil {
			return invalid("append: options sent twice")
		}
		if _, err := idBytes(m.GetId()); err != nil {
			return invalid("append: %v", err)
		}
		if m.Metadata["type"] == "" || m.Metadata["content-type"] == "" {
			return invalid("append: required metadata properties are missing (type, content-type)")
		}
		size += len(m.Data) + len(m.CustomMetadata)
		msgs = append(msgs, m)
	}
	if size > svc.s.opts.MaxAppendSize {
		srv.SetTrailer(metadata.Pairs("exception", "maximum-append-size-exceeded",
			"maximum-append-size", strconv.Itoa(svc.s.opts.MaxAppendSize)))
		return invalid("Maximum Append Size of %d Exceeded.", svc.s.opts.MaxAppendSize)
	}

	s := svc.s
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return status.Error(codes.Unavailable, "server is shutting down")
	}
	if leader := s.leaderLocked(); leader != s {
		s.mu.Unlock()
		return notLeader(srv, leader)
	}
	resp := s.appendChecked(stream, opts, msgs)
	lost := s.cluster != nil && s.cluster.loseAck && resp.GetSuccess() != nil
	if lost {
		// The leader goes away after the write was replicated, before
		// its answer left: the write stands, the caller sees the call
		// fail, and another node leads.
		s.cluster.loseAck = false
		s.cluster.electLocked(s.cluster.nextNode(s))
	}
	s.mu.Unlock()
	if lost {
		return status.Error(codes.Unavailable, "stand-in: leader lost after committing the append")
	}
	return srv.SendAndClose(resp)
}

// appendChecked applies the expected-revision rules and KurrentDB's
// idempotency check. s.mu must be held.
func (s *Server) appendChecked(stream string, opts *api.AppendReq_Options, msgs []*api.AppendReq_ProposedMessage) *api.AppendResp {
	recs := s.streams[stream]
	current := int64(len(recs)) - 1

	exact := func(expected int64) *api.AppendResp {
		switch {
		case expected == current:
			return s.success(stream, s.appendLocked(stream, msgs), current)
		case expected < current && len(msgs) > 0:
			// Idempotent retry: the same ids, in the same order, already
			// stored right after the expected revision.
			for i, m := range msgs {
				at := expected + 1 + int64(i)
				if at > current || !sameID(recs[at].id, m.Id) {
					return wrongVersion(opts, current)
				}
			}
			return s.success(stream, recs[expected+1:expected+1+int64(len(msgs))], current)
		}
		return wrongVersion(opts, current)
	}

	switch e := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		if e.Revision > uint64(1<<62) {
			return wrongVersion(opts, current)
		}
		return exact(int64(e.Revision))
	case *api.AppendReq_Options_NoStream:
		return exact(-1)
	case *api.AppendReq_Options_StreamExists:
		if current < 0 {
			return wrongVersion(opts, current)
		}
	case *api.AppendReq_Options_Any, nil:
	}
	// Any and StreamExists: the server recognises a batch whose first id is
	// already stored in the stream. When the whole batch follows it in
	// order, the write is idempotent; a partial match is refused.
	if len(msgs) > 0 && !s.opts.NoAnyDeduplication {
		if b, err := idBytes(msgs[0].Id); err == nil {
			if at, ok := s.ids[stream][b]; ok {
				for i, m := range msgs {
					j := at + int64(i)
					if j > current || !sameID(recs[j].id, m.Id) {
						return wrongVersion(opts, current)
					}
				}
				return s.success(stream, recs[at:at+int64(len(msgs))], current)
			}
		}
	}
	return s.success(stream, s.appendLocked(stream, msgs), current)
}

// success reports written (or idempotently found) records; with none, the
// stream's current revision.
func (s *Server) success(stream string, written []*record, current int64) *api.AppendResp {
	ok := &api.AppendResp_Success{}
	if len(written) == 0 {
		if current < 0 {
			ok.CurrentRevisionOption = &api.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
		} else {
			ok.CurrentRevisionOption = &api.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(current)}
		}
		ok.PositionOption = &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	} else {
		last := written[len(written)-1]
		ok.CurrentRevisionOption = &api.AppendResp_Success_CurrentRevision{CurrentRevision: last.revision}
		ok.PositionOption = &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
			CommitPosition: last.commit, PreparePosition: last.prepare,
		}}
	}
	return &api.AppendResp{Result: &api.AppendResp_Success_{Success: ok}}
}

func wrongVersion(opts *api.AppendReq_Options, current int64) *api.AppendResp {
	w := &api.AppendResp_WrongExpectedVersion{}
	if current < 0 {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(current)}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(current)}
	}
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: e.Revision}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: e.Revision}
	case *api.AppendReq_Options_NoStream:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case *api.AppendReq_Options_StreamExists:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	}
	return &api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// idBytes decodes an event id in either wire form: two 64-bit halves
// (what the Go client sends) or a string.
func idBytes(id *shared.UUID) ([16]byte, error) {
	var b [16]byte
	switch v := id.GetValue().(type) {
	case *shared.UUID_Structured_:
		hi, lo := uint64(v.Structured.GetMostSignificantBits()), uint64(v.Structured.GetLeastSignificantBits())
		for i := 0; i < 8; i++ {
			b[i] = byte(hi >> (56 - 8*i))
			b[8+i] = byte(lo >> (56 - 8*i))
		}
		return b, nil
	case *shared.UUID_String_:
		u, err := uuid.Parse(v.String_)
		if err != nil {
			return b, fmt.Errorf("event id %q: %w", v.String_, err)
		}
		return u, nil
	}
	return b, errors.New("event without an id")
}

func sameID(a, b *shared.UUID) bool {
	x, errX := idBytes(a)
	y, errY := idBytes(b)
	return errX == nil && errY == nil && x == y
}

// wireID renders a stored id the way the reader asked for.
func wireID(id *shared.UUID, asString bool) *shared.UUID {
	b, _ := idBytes(id)
	if asString {
		return &shared.UUID{Value: &shared.UUID_String_{String_: uuid.UUID(b).String()}}
	}
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits: int64(hi), LeastSignificantBits: int64(lo),
	}}}
}

// filter is a compiled ReadReq filter; nil matches everything.
type filter struct {
	byType   bool
	prefixes []string
	re       *regexp.Regexp
	// every is how many records are scanned between checkpoints.
	every int
}

func compileFilter(o *api.ReadReq_Options) (*filter, error) {
	fo := o.GetFilter()
	if fo == nil {
		return nil, nil
	}
	f := &filter{}
	var expr *api.ReadReq_Options_FilterOptions_Expression
	switch v := fo.GetFilter().(type) {
	case *api.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr = v.StreamIdentifier
	case *api.ReadReq_Options_FilterOptions_EventType:
		f.byType, expr = true, v.EventType
	default:
		return nil, invalid("filter without an expression")
	}
	f.prefixes = expr.GetPrefix()
	if r := expr.GetRegex(); r != "" {
		re, err := regexp.Compile(r)
		if err != nil {
			return nil, invalid("filter regex: %v", err)
		}
		f.re = re
	}
	window := int(fo.GetMax())
	if window == 0 {
		window = 32
	}
	mult := int(fo.GetCheckpointIntervalMultiplier())
	if mult == 0 {
		mult = 1
	}
	f.every = window * mult
	return f, nil
}

func (f *filter) match(r *record) bool {
	if f == nil {
		return true
	}
	subject := r.stream
	if f.byType {
		subject = r.metadata["type"]
	}
	if f.re != nil {
		return f.re.MatchString(subject)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(subject, p) {
			return true
		}
	}
	return false
}

func less(r *record, commit, prepare uint64) bool {
	if r.commit != commit {
		return r.commit < commit
	}
	return r.prepare < prepare
}

// readEvent renders a record for the wire, with the metadata the client
// insists on (type, content-type, created). legacy hides the $all
// position of a stream read, as servers before 22.6 do.
func readEvent(r *record, all, idAsString, legacy bool) *api.ReadResp {
	ev := &api.ReadResp_ReadEvent{Event: &api.ReadResp_ReadEvent_RecordedEvent{
		Id:               wireID(r.id, idAsString),
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
		StreamRevision:   r.revision,
		PreparePosition:  r.prepare,
		CommitPosition:   r.commit,
		Metadata:         r.metadata,
		CustomMetadata:   r.custom,
		Data:             r.data,
	}}
	if all {
		ev.Position = &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.commit}
	} else {
		if legacy {
			ev.Event.CommitPosition, ev.Event.PreparePosition = math.MaxUint64, math.MaxUint64
		}
		ev.Position = &api.ReadResp_ReadEvent_NoPosition{NoPosition: &shared.Empty{}}
	}
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: ev}}
}

// Read serves reads (a count) and subscriptions of one stream or of $all.
func (svc *streamsService) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return invalid("read without options")
	}
	f, err := compileFilter(o)
	if err != nil {
		return err
	}
	idAsString := o.GetUuidOption().GetString_() != nil
	if o.GetSubscription() != nil {
		return svc.s.subscribe(o, f, idAsString, srv)
	}
	count := o.GetCount()
	backwards := o.GetReadDirection() == api.ReadReq_Options_Backwards
	s := svc.s

	if so := o.GetStream(); so != nil {
		name := string(so.GetStreamIdentifier().GetStreamName())
		s.mu.Lock()
		recs := s.streams[name]
		s.mu.Unlock()
		if len(recs) == 0 {
			return srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{
				StreamNotFound: &api.ReadResp_StreamNotFound{StreamIdentifier: so.GetStreamIdentifier()},
			}})
		}
		var from int64
		switch v := so.GetRevisionOption().(type) {
		case *api.ReadReq_Options_StreamOptions_Revision:
			from = int64(min(v.Revision, uint64(1<<62)))
		case *api.ReadReq_Options_StreamOptions_End:
			from = int64(len(recs)) - 1
			if !backwards {
				from = int64(len(recs))
			}
		}
		sent := uint64(0)
		step := int64(1)
		if backwards {
			step = -1
			from = min(from, int64(len(recs))-1)
		}
		for i := from; i >= 0 && i < int64(len(recs)) && sent < count; i += step {
			if err := srv.Send(readEvent(recs[i], false, idAsString, s.opts.LegacyStreamReadPositions)); err != nil {
				return err
			}
			sent++
		}
		return nil
	}

	ao := o.GetAll()
	if ao == nil {
		return invalid("read of neither a stream nor $all")
	}
	s.mu.Lock()
	log := s.log
	s.mu.Unlock()
	var start int // first index to send forwards; one past the first backwards
	switch v := ao.GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_Position:
		p := v.Position
		start = sort.Search(len(log), func(i int) bool { return !less(log[i], p.CommitPosition, p.PreparePosition) })
	case *api.ReadReq_Options_AllOptions_End:
		start = len(log)
	}
	sent := uint64(0)
	if backwards {
		for i := start - 1; i >= 0 && sent < count; i-- {
			if !f.match(log[i]) {
				continue
			}
			if err := srv.Send(readEvent(log[i], true, idAsString, false)); err != nil {
				return err
			}
			sent++
		}
		return nil
	}
	for i := start; i < len(log) && sent < count; i++ {
		if !f.match(log[i]) {
			continue
		}
		if err := srv.Send(readEvent(log[i], true, idAsString, false)); err != nil {
			return err
		}
		sent++
	}
	return nil
}

// subscription is one open subscription, droppable by the test.
type subscription struct {
	node    *Server // the node serving it
	once    sync.Once
	dropped chan struct{}
	gone    bool // dropped by DropSubscriptions; guarded by Server.mu
}

func (sub *subscription) drop() { sub.once.Do(func() { close(sub.dropped) }) }

// subscribe confirms, catches up from the start point (exclusive), then
// follows new appends until the client goes away, the server closes or a
// test drops the subscription.
func (s *Server) subscribe(o *api.ReadReq_Options, f *filter, idAsString bool, srv api.Streams_ReadServer) error {
	if o.GetReadDirection() == api.ReadReq_Options_Backwards {
		return invalid("subscriptions read forwards")
	}
	sub := &subscription{node: s, dropped: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return status.Error(codes.Unavailable, "server is shutting down")
	}
	s.subs[sub] = struct{}{}
	s.subSeq++
	id := fmt.Sprintf("standin-sub-%d", s.subSeq)

	// source returns the records the subscription walks ($all or one
	// stream) as they are now.
	var source func() []*record
	all := o.GetAll() != nil
	next := 0
	if all {
		source = func() []*record { return s.log }
		switch v := o.GetAll().GetAllOption().(type) {
		case *api.ReadReq_Options_AllOptions_Position:
			p := v.Position
			// Strictly after the position.
			next = sort.Search(len(s.log), func(i int) bool {
				r := s.log[i]
				return !less(r, p.CommitPosition, p.PreparePosition) && (r.commit != p.CommitPosition || r.prepare != p.PreparePosition)
			})
		case *api.ReadReq_Options_AllOptions_End:
			next = len(s.log)
		}
	} else {
		so := o.GetStream()
		if so == nil {
			delete(s.subs, sub)
			s.mu.Unlock()
			return invalid("subscription to neither a stream nor $all")
		}
		name := string(so.GetStreamIdentifier().GetStreamName())
		source = func() []*record { return s.streams[name] }
		switch v := so.GetRevisionOption().(type) {
		case *api.ReadReq_Options_StreamOptions_Revision:
			next = int(min(v.Revision, uint64(1<<62))) + 1
		case *api.ReadReq_Options_StreamOptions_End:
			next = len(s.streams[name])
		}
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
	}()

	if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{
		Confirmation: &api.ReadResp_SubscriptionConfirmation{SubscriptionId: id},
	}}); err != nil {
		return err
	}
	scanned := 0
	caughtUp := false
	var last *record // last record scanned since the last event or checkpoint
	checkpoint := func() error {
		scanned = 0
		if last == nil {
			return nil
		}
		r := last
		last = nil
		return srv.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{
			CommitPosition: r.commit, PreparePosition: r.prepare,
		}}})
	}
	for {
		s.mu.Lock()
		recs := source()
		wake := s.appended
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return status.Error(codes.Unavailable, "server is shutting down")
		}
		for ; next < len(recs); next++ {
			r := recs[next]
			if f.match(r) {
				last = nil
				if err := srv.Send(readEvent(r, all, idAsString, !all && s.opts.LegacyStreamReadPositions)); err != nil {
					return err
				}
				continue
			}
			last = r
			if scanned++; f != nil && scanned >= f.every {
				if err := checkpoint(); err != nil {
					return err
				}
			}
		}
		if f != nil && all {
			if err := checkpoint(); err != nil {
				return err
			}
		}
		if !caughtUp {
			// As a server does once the stored events are sent and the
			// subscription goes live.
			caughtUp = true
			if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-wake:
		case <-sub.dropped:
			return status.Error(codes.Unavailable, "subscription dropped by the stand-in")
		case <-srv.Context().Done():
			return srv.Context().Err()
		}
	}
}
