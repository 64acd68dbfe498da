package pgstore

// QueuedAppends reports how many appends wait for a group commit.
func QueuedAppends(s *Store) int {
	if s.committer == nil {
		return 0
	}
	s.committer.mu.Lock()
	defer s.committer.mu.Unlock()
	return len(s.committer.queue)
}
