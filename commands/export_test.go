package commands

// DeltasOften makes h write a delta instead of a whole snapshot while
// the delta is no larger than the snapshot (deltaShare 1), so that tests
// with small members restore them from snapshots and deltas alike. Call
// it before h is used.
func DeltasOften(h *Handler) *Handler {
	h.deltaShare = 1
	return h
}
