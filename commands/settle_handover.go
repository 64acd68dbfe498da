package commands

import (
	"context"
	"time"
)

// SettleHandover settles one handover the way SettleDue settles each due
// one (completed, or failed when the relation ended, the target departed
// or has no room), whether or not the corp's handovers are carried out in
// WeCom: it is how WeCom's transfer result (status 1, completed) is
// recorded. It records nothing before the handover's deadline by the
// clock — the outcome is then OutcomeSkipped with
// customer.ErrHandoverNotDue — nor for a handover that is not pending.
// Events ids derive from the handover id, as SettleDue's: the two never
// record one outcome twice.
func (h *Handler) SettleHandover(ctx context.Context, m Meta, customerID, handoverID string) (HandoverOutcome, error) {
	m.OccurredAt = time.Time{}
	r, err := h.begin(ctx, m)
	if err != nil {
		return HandoverOutcome{}, err
	}
	return h.settleOne(ctx, r, PendingHandover{CorpID: m.CorpID, CustomerID: customerID, HandoverID: handoverID})
}
