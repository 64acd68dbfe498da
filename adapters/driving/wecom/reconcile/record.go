package reconcile

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"

	"github.com/custody/custody/commands"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/domain/staff"
	"github.com/custody/custody/domain/tags"
	"github.com/custody/custody/events/eventlog"
)

// action is one aggregate's corrections, in order.
type action struct {
	// key names the aggregate: actions with one key run in order on one
	// worker.
	key string
	do  func(ctx context.Context) error
}

// apply runs the actions on the Reconciler's workers, partitioned by key,
// and returns the first error (the others stop at their next action).
func (r *run) apply(ctx context.Context, phase string, acts []action) error {
	if len(acts) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	n := min(r.rc.o.Workers, len(acts))
	queues := make([]chan action, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i := range queues {
		queues[i] = make(chan action, 64)
		wg.Add(1)
		go func(q <-chan action) {
			defer wg.Done()
			for a := range q {
				if ctx.Err() != nil {
					continue
				}
				if err := a.do(ctx); err != nil {
					cancel(err)
					continue
				}
				mu.Lock()
				done++
				r.rc.o.Progress(Progress{Phase: "record " + phase, Done: done, Total: len(acts)})
				mu.Unlock()
			}
		}(queues[i])
	}
	for _, a := range acts {
		h := fnv.New32a()
		_, _ = h.Write([]byte(a.key))
		select {
		case queues[h.Sum32()%uint32(n)] <- a:
		case <-ctx.Done():
		}
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// recorded counts a correction when the command recorded something.
func (r *run) recorded(kind string, res commands.Result, err error) error {
	if err != nil {
		return r.refusal(err)
	}
	if len(res.Events) > 0 && !res.Replayed {
		r.mu.Lock()
		r.rep.corrected(kind)
		r.mu.Unlock()
	}
	return nil
}

// refusal counts err when a custody rule refused the correction (the
// report says which), and returns it otherwise (the log failed).
func (r *run) refusal(err error) error {
	why := ""
	var fe *commands.FieldError
	switch {
	case errors.Is(err, customer.ErrErased):
		why = "customer_erased"
	case errors.Is(err, customer.ErrRelationActive), errors.Is(err, customer.ErrRelationNotActive),
		errors.Is(err, groupchat.ErrAlreadyMember), errors.Is(err, groupchat.ErrNotMember),
		errors.Is(err, groupchat.ErrAlreadyCreated), errors.Is(err, groupchat.ErrSameOwner):
		why = "changed_meanwhile"
	case errors.Is(err, groupchat.ErrDismissed):
		why = "group_dismissed_in_custody"
	case errors.Is(err, groupchat.ErrGroupFull):
		why = "group_full"
	case errors.As(err, &fe), errors.Is(err, commands.ErrInvalidCommand), errors.Is(err, eventlog.ErrInvalidEvent),
		errors.Is(err, customer.ErrInvalidArgument), errors.Is(err, groupchat.ErrInvalidArgument),
		errors.Is(err, tags.ErrInvalidArgument), errors.Is(err, staff.ErrInvalidID):
		why = "invalid_value"
	case errors.Is(err, groupchat.ErrUnknownTarget), errors.Is(err, groupchat.ErrTargetDeparted),
		errors.Is(err, groupchat.ErrOwnerDeparted), errors.Is(err, groupchat.ErrOwnerNotDeparted),
		errors.Is(err, groupchat.ErrTransferLimitReached), errors.Is(err, staff.ErrDeparted):
		why = "rule"
	default:
		return err
	}
	r.mu.Lock()
	r.rep.refused(why)
	r.mu.Unlock()
	return nil
}
