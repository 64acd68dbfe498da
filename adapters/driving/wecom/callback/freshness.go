package callback

import (
	"fmt"
	"strconv"
	"time"
)

// CheckTimestamp refuses a callback whose timestamp (unix seconds, decimal,
// as in the query) is more than Options.MaxSkew before or after now: ErrStale
// when outside the window, ErrMalformed when not a plain decimal number.
// The timestamp is covered by msg_signature, so check it after Open or
// VerifyURL succeeded (or before, to save the work: an attacker gains
// nothing by changing it).
func (c *Crypto) CheckTimestamp(timestamp string, now time.Time) error {
	if timestamp == "" || len(timestamp) > 12 {
		return fmt.Errorf("timestamp: %w", ErrMalformed)
	}
	for i := 0; i < len(timestamp); i++ {
		if timestamp[i] < '0' || timestamp[i] > '9' {
			return fmt.Errorf("timestamp: %w", ErrMalformed)
		}
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp: %w", ErrMalformed)
	}
	skew := now.Sub(time.Unix(sec, 0))
	if skew > c.maxSkew || skew < -c.maxSkew {
		return fmt.Errorf("timestamp %s from now: %w", skew.Round(time.Second), ErrStale)
	}
	return nil
}
