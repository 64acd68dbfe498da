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

// QueuedReads reports how many stream reads wait for a round trip.
func QueuedReads(s *Store) int {
	if s.reader == nil {
		return 0
	}
	s.reader.mu.Lock()
	defer s.reader.mu.Unlock()
	return len(s.reader.queue)
}

// ReadRoundTrips reports how many round trips the reader has made.
func ReadRoundTrips(s *Store) int64 {
	if s.reader == nil {
		return 0
	}
	return s.reader.trips.Load()
}
