package kurrentstandin

import (
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Cluster is several stand-in nodes serving one log, one of them the
// leader, as a KurrentDB cluster looks to a client connected to one node:
//
//   - Appends to a follower are refused with KurrentDB's "not-leader"
//     answer (gRPC NotFound with the exception, leader-endpoint-host and
//     leader-endpoint-port trailers), on which the client reconnects to the
//     leader and reports ErrorCodeNotLeader for the call.
//   - Reads and subscriptions are served by every node (the client does
//     not send its requires-leader header: it puts it on the incoming
//     context), from the same log, so a follower never lags.
//   - Elect moves the leadership; the old leader drops the subscriptions it
//     serves, as a node does when it changes role.
//   - LoseNextAppendAck makes the leader commit the next append and then
//     fail the call with Unavailable, handing the leadership to the next
//     node: the write stands but its caller never hears so, as when a
//     leader dies after replicating.
//
// Not modelled: elections by the nodes themselves, replication lag,
// gossip (connect with a single-node connection string to any node).
type Cluster struct {
	nodes   []*Server
	leader  *Server // guarded by the store's mu
	loseAck bool    // guarded by the store's mu
}

// StartCluster starts n nodes (n ≥ 2) sharing one log, each on its own
// loopback port (opts.Addr is ignored), node 0 leading.
func StartCluster(n int, opts Options) (*Cluster, error) {
	if n < 2 {
		return nil, fmt.Errorf("standin: a cluster needs at least 2 nodes, got %d", n)
	}
	opts.setDefaults()
	opts.Addr = "127.0.0.1:0"
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{}
	st := newStore()
	for range n {
		lis, err := net.Listen("tcp", opts.Addr)
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("standin: listen: %w", err)
		}
		s := &Server{store: st, opts: opts, cluster: c}
		c.nodes = append(c.nodes, s)
		s.serve(lis)
	}
	c.leader = c.nodes[0]
	c.nodes[0].AppendSystemEvent("$settings", "$settings")
	return c, nil
}

// Node returns node i.
func (c *Cluster) Node(i int) *Server { return c.nodes[i] }

// Leader is the index of the leading node.
func (c *Cluster) Leader() int {
	st := c.nodes[0].store
	st.mu.Lock()
	defer st.mu.Unlock()
	return c.index(c.leader)
}

// Elect makes node i the leader (a leader change); the old leader drops
// its subscriptions. Electing the leader again changes nothing.
func (c *Cluster) Elect(i int) {
	st := c.nodes[0].store
	st.mu.Lock()
	defer st.mu.Unlock()
	c.electLocked(c.nodes[i])
}

// LoseNextAppendAck makes the next successful append on the leader lose
// its answer: see the type's comment.
func (c *Cluster) LoseNextAppendAck() {
	st := c.nodes[0].store
	st.mu.Lock()
	defer st.mu.Unlock()
	c.loseAck = true
}

// Close stops every node.
func (c *Cluster) Close() error {
	var errs []error
	for _, s := range c.nodes {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

func (c *Cluster) electLocked(s *Server) {
	if c.leader == s {
		return
	}
	old := c.leader
	c.leader = s
	old.dropSubscriptionsLocked()
}

func (c *Cluster) nextNode(s *Server) *Server {
	return c.nodes[(c.index(s)+1)%len(c.nodes)]
}

func (c *Cluster) index(s *Server) int {
	for i, n := range c.nodes {
		if n == s {
			return i
		}
	}
	return -1
}

// leaderLocked is the node that accepts writes: s itself unless s is a
// follower of a cluster. s.mu must be held.
func (s *Server) leaderLocked() *Server {
	if s.cluster == nil {
		return s
	}
	return s.cluster.leader
}

// notLeader answers a call a follower cannot serve the way KurrentDB does,
// naming the leader's endpoint.
func notLeader(srv interface{ SetTrailer(metadata.MD) }, leader *Server) error {
	host, port, err := net.SplitHostPort(leader.lis.Addr().String())
	if err != nil {
		return status.Errorf(codes.Internal, "stand-in: leader address: %v", err)
	}
	srv.SetTrailer(metadata.Pairs("exception", "not-leader", "leader-endpoint-host", host, "leader-endpoint-port", port))
	return status.Error(codes.NotFound, "Leader info available")
}
