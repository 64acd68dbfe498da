package main

import (
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// eventsBar is the progress bar of the long-running tools (events export,
// log copy, replay, projections rebuild): on stderr, counting events with
// their rate, redrawn at most ten times a second. total -1 is unknown (a
// spinner with a count). Further options (OptionFullWidth, ...) follow
// the common ones; without any the bar clears itself when finished.
func eventsBar(description string, total int64, extra ...progressbar.Option) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(description),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionThrottle(100 * time.Millisecond),
	}
	if len(extra) == 0 {
		extra = []progressbar.Option{progressbar.OptionClearOnFinish()}
	}
	return progressbar.NewOptions64(total, append(opts, extra...)...)
}
