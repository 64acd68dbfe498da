// Package kurrentstandin is a PROTOCOL-LEVEL STAND-IN for a KurrentDB
// (EventStoreDB) server: an in-process gRPC server built from the
// EventStore-Client-Go v4.2.0 module's own generated service definitions
// (protos/streams, protos/serverfeatures), listening on loopback TCP, so
// that the real esdb client talks to it over a real gRPC connection.
//
// It is NOT KurrentDB. It keeps its log in memory and implements only what
// custody's event log uses, with KurrentDB's observable semantics:
//
//   - Append with an expected revision (any, no_stream, stream_exists or an
//     exact revision) answering WrongExpectedVersion on a mismatch, and
//     idempotent writes when a batch whose event ids are already stored at
//     the expected place is sent again with a non-Any expectation. With Any
//     (or StreamExists) a batch whose first event id is already in the
//     stream is recognised as a server does: the stored originals are
//     answered when the whole batch follows in order, a partial match is
//     refused as a wrong expected version. (KurrentDB keeps recent ids in a
//     cache; the stand-in remembers every id.) Options.NoAnyDeduplication
//     models the weakest behaviour the guarantee allows instead.
//   - A maximum append size (1 MiB by default, as on the server).
//   - Read of one stream and of $all, forwards and backwards, with
//     StreamNotFound for a stream that has no events. A read of $all from a
//     position includes the event at that position.
//   - Subscriptions to $all (optionally filtered by stream-name prefixes or
//     regular expression, or by event type): a confirmation first, then the
//     stored events strictly after the start position (catch-up), a
//     caught-up notice, then new ones as they are appended (live);
//     filtered subscriptions also get checkpoints. Subscriptions to a
//     single stream work the same way.
//   - Every event returned carries the "type", "content-type" and "created"
//     (100 ns ticks since the Unix epoch) metadata the client requires, ids
//     as two 64-bit halves, and its $all position. As on KurrentDB since
//     20.6 for appends outside explicit transactions, commit and prepare
//     position are both the record's own log offset, and an append answers
//     with its last event's position. Stream reads carry the $all position
//     too, as on KurrentDB since 22.6; Options.LegacyStreamReadPositions
//     emulates older servers, which send the maximum uint64 commit position
//     on stream reads.
//   - ServerFeatures answers with a numeric X.Y.Z version, as the client
//     requires. Gossip is not served: a single-node connection string
//     (esdb://host:port?tls=false) never calls it.
//
// Not modelled: persistent subscriptions, projections, deletes and
// tombstones, stream metadata ($maxAge, ACLs), authentication, TLS,
// elections and replication (Cluster models what a client sees of a
// leader change: see its comment), disk persistence (Stop and Restart keep
// the events in memory, which models a restart from disk), scavenging, link
// events, BatchAppend. Tests that pass here prove the adapter speaks the
// protocol the client library speaks and relies only on the semantics
// listed above; they say nothing about a real server's performance or
// failure behaviour.
package kurrentstandin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Version is the server version the stand-in reports through
// ServerFeatures. The client parses it as numeric X.Y.Z and refuses
// anything else.
const Version = "24.10.0"

// DefaultMaxAppendSize is KurrentDB's default maximum size of one append
// (the sum of the events' data and metadata).
const DefaultMaxAppendSize = 1 << 20

// Options configure a Server.
type Options struct {
	// Addr is the TCP address to listen on; default "127.0.0.1:0" (a free
	// loopback port).
	Addr string
	// MaxAppendSize is the largest accepted append in bytes of data plus
	// metadata; default DefaultMaxAppendSize.
	MaxAppendSize int
	// Now is the clock for the "created" metadata; default time.Now.
	Now func() time.Time
	// LegacyStreamReadPositions makes stream reads (not $all reads) carry
	// commit and prepare positions of the maximum uint64, as servers
	// before 22.6 do: their stream reads come from the index, which does
	// not know $all positions.
	LegacyStreamReadPositions bool
	// NoAnyDeduplication makes appends with an Any or StreamExists
	// expectation always write, even a batch already stored: the weakest
	// behaviour KurrentDB's guarantee allows (it only promises idempotency
	// for an exact expectation; a server recognises recent ids for Any
	// too, which the stand-in models by default).
	NoAnyDeduplication bool
	// DisableServerFeatures leaves the ServerFeatures service unregistered,
	// as on a server too old to have it: the client must then work without
	// it (it treats Unimplemented as "no features").
	DisableServerFeatures bool
}

func (o *Options) setDefaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.MaxAppendSize == 0 {
		o.MaxAppendSize = DefaultMaxAppendSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports every problem with o.
func (o Options) Validate() error {
	var errs []error
	if o.MaxAppendSize < 0 {
		errs = append(errs, errors.New("standin: MaxAppendSize must not be negative"))
	}
	return errors.Join(errs...)
}

// Server is a running protocol-level stand-in for a KurrentDB server (not
// KurrentDB: see the package comment). It is safe for concurrent use. A
// Server started by Start is a single node; the nodes of a Cluster are
// Servers sharing one log.
type Server struct {
	*store
	opts    Options
	cluster *Cluster // nil for a single node

	// Guarded by store.mu.
	lis      net.Listener
	grpc     *grpc.Server
	serveErr chan error
}

// store is the log the nodes of one server or cluster share.
type store struct {
	mu       sync.Mutex
	log      []*record            // $all, in order
	streams  map[string][]*record // each stream's events by revision
	ids      map[string]map[[16]byte]int64
	nextPos  uint64        // log offset of the next record
	appended chan struct{} // closed and replaced on every append
	closed   bool
	subs     map[*subscription]struct{}
	subSeq   uint64
}

func newStore() *store {
	return &store{
		streams:  map[string][]*record{},
		ids:      map[string]map[[16]byte]int64{},
		appended: make(chan struct{}),
		subs:     map[*subscription]struct{}{},
	}
}

// record is one stored event.
type record struct {
	id       *shared.UUID
	stream   string
	revision uint64
	commit   uint64
	prepare  uint64
	metadata map[string]string
	custom   []byte
	data     []byte
}

// Start listens and serves until Close.
func Start(opts Options) (*Server, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("standin: listen: %w", err)
	}
	s := &Server{store: newStore(), opts: opts}
	// A real server's $all never starts empty: system streams come first,
	// so an adapter that does not filter them out fails against the
	// stand-in as it would against a server.
	s.AppendSystemEvent("$settings", "$settings")
	s.serve(lis)
	return s, nil
}

// serve starts a gRPC server on lis.
func (s *Server) serve(lis net.Listener) {
	// KurrentDB accepts the client's keepalive pings (every 10 s by
	// default, also without a call in flight); gRPC's default policy
	// answers them with GOAWAY "too_many_pings", dropping idle clients.
	g := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime:             time.Second,
		PermitWithoutStream: true,
	}))
	api.RegisterStreamsServer(g, &streamsService{s: s})
	if !s.opts.DisableServerFeatures {
		serverfeatures.RegisterServerFeaturesServer(g, featuresService{})
	}
	done := make(chan error, 1)
	s.mu.Lock()
	s.lis, s.grpc, s.serveErr = lis, g, done
	s.mu.Unlock()
	go func() { done <- g.Serve(lis) }()
}

// Stop stops serving as a server process going away does: every call in
// flight ends, the port is closed, new connections are refused. Unlike
// Close the stored events are kept, and Restart serves them again on the
// same address, as a server restarting from its disk would.
func (s *Server) Stop() error {
	s.mu.Lock()
	g, done := s.grpc, s.serveErr
	s.grpc = nil
	s.mu.Unlock()
	if g == nil {
		return nil
	}
	g.Stop()
	if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("standin: serve: %w", err)
	}
	return nil
}

// Restart serves the stored events again on the address Stop closed. The
// port may be taken briefly by the closing socket; Restart tries for up to
// five seconds.
func (s *Server) Restart() error {
	s.mu.Lock()
	running, closed, addr := s.grpc != nil, s.closed, s.lis.Addr().String()
	s.mu.Unlock()
	if closed {
		return errors.New("standin: restart after Close")
	}
	if running {
		return nil
	}
	var lis net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if lis, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("standin: listen again: %w", err)
	}
	s.serve(lis)
	return nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lis.Addr().String()
}

// URL is a single-node connection string for the server.
func (s *Server) URL() string { return "esdb://" + s.Addr() + "?tls=false" }

// Close stops the server, ending every call in flight. Of a Cluster's node
// it closes the shared log, so the other nodes stop answering too (stop
// them with Cluster.Close).
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		// Of a cluster's shared log: Close of one node ends them all.
		s.closed = true
		close(s.appended)
	}
	s.mu.Unlock()
	return s.Stop()
}

// DropSubscriptions ends every open subscription this node serves with an
// Unavailable error, as a server does when it restarts or loses
// leadership, and reports how many it ended. The client does not
// resubscribe by itself.
func (s *Server) DropSubscriptions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropSubscriptionsLocked()
}

func (s *Server) dropSubscriptionsLocked() int {
	n := 0
	for sub := range s.subs {
		if sub.node == s && !sub.gone {
			sub.gone = true
			sub.drop()
			n++
		}
	}
	return n
}

// Subscriptions is the number of open subscriptions this node serves and
// has not dropped.
func (s *Server) Subscriptions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for sub := range s.subs {
		if sub.node == s && !sub.gone {
			n++
		}
	}
	return n
}

// AppendSystemEvent writes an event to a stream outside custody's (a "$"
// system stream or any other), as other writers to a shared server would:
// it shows up in $all and must be filtered out by readers.
func (s *Server) AppendSystemEvent(stream, eventType string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := newStructuredUUID(s.nextPos + 1)
	s.appendLocked(stream, []*api.AppendReq_ProposedMessage{{
		Id:       id,
		Metadata: map[string]string{"type": eventType, "content-type": "application/json"},
		Data:     []byte("{}"),
	}})
}

// Len is the number of records in $all, system records included.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// appendLocked stores msgs at the end of stream. s.mu must be held.
func (s *Server) appendLocked(stream string, msgs []*api.AppendReq_ProposedMessage) []*record {
	recs := s.streams[stream]
	ids := s.ids[stream]
	if ids == nil {
		ids = map[[16]byte]int64{}
		s.ids[stream] = ids
	}
	created := strconv.FormatInt(s.opts.Now().UnixNano()/100, 10)
	out := make([]*record, 0, len(msgs))
	for _, m := range msgs {
		md := make(map[string]string, len(m.Metadata)+1)
		for k, v := range m.Metadata {
			md[k] = v
		}
		md["created"] = created
		r := &record{
			id:       m.Id,
			stream:   stream,
			revision: uint64(len(recs)),
			commit:   s.nextPos,
			prepare:  s.nextPos,
			metadata: md,
			custom:   m.CustomMetadata,
			data:     m.Data,
		}
		// Offsets grow by the record's size, as log positions do on disk.
		s.nextPos += uint64(64 + len(stream) + len(m.Data) + len(m.CustomMetadata))
		if b, err := idBytes(m.Id); err == nil {
			if _, dup := ids[b]; !dup {
				ids[b] = int64(r.revision)
			}
		}
		recs = append(recs, r)
		s.log = append(s.log, r)
		out = append(out, r)
	}
	s.streams[stream] = recs
	if !s.closed {
		close(s.appended)
		s.appended = make(chan struct{})
	}
	return out
}

// newStructuredUUID is a deterministic id for stand-in system events.
func newStructuredUUID(n uint64) *shared.UUID {
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(0x5354414e44494e00), // "STANDIN\0"
		LeastSignificantBits: int64(n),
	}}}
}

// featuresService answers the client's capability probe.
type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const svc = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: Version,
		Methods: []*serverfeatures.SupportedMethod{
			{ServiceName: svc, MethodName: "read"},
			{ServiceName: svc, MethodName: "append"},
		},
	}, nil
}
