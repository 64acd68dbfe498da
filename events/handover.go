package events

import "time"

// Handover events live on the customer's stream: a handover moves one
// relation, and the customer aggregate decides it.

// Handover kinds.
const (
	HandoverInService = "in_service" // 在职继承
	HandoverResigned  = "resigned"   // 离职继承
)

// Handover failure reasons.
const (
	FailTargetAtCapacity = "target_at_capacity" // WeCom customer_limit_exceed
	FailTargetDeparted   = "target_departed"
	FailRelationEnded    = "relation_ended"
	// FailRejectedByWeCom: custody asked WeCom to carry the handover out
	// and WeCom refused it for this customer (transfer_customer's
	// per-customer errcode) or has no record of it (transfer_result
	// status 5).
	FailRejectedByWeCom = "rejected_by_wecom"
)

// HandoverRequested: a relation is to move from one staff member to another.
// The customer may refuse until Deadline; after it the handover completes.
type HandoverRequested struct {
	HandoverID  string    `json:"handover_id"`
	CustomerID  string    `json:"customer_id"`
	Kind        string    `json:"kind"`
	FromStaffID string    `json:"from_staff_id"`
	ToStaffID   string    `json:"to_staff_id"`
	BatchID     string    `json:"batch_id,omitempty"`
	Message     string    `json:"message,omitempty"`
	Deadline    time.Time `json:"deadline"`
}

// HandoverRefused: the customer declined within the window.
type HandoverRefused struct {
	HandoverID string `json:"handover_id"`
	CustomerID string `json:"customer_id"`
}

// HandoverCompleted: the relation moved. It is followed on the same stream by
// customer.relation_ended (reason handed_over) for the old owner and
// customer.relation_started (started_by handover) for the new one, unless the
// new owner already followed the customer.
type HandoverCompleted struct {
	HandoverID  string `json:"handover_id"`
	CustomerID  string `json:"customer_id"`
	FromStaffID string `json:"from_staff_id"`
	ToStaffID   string `json:"to_staff_id"`
}

// HandoverFailed: the handover could not happen.
type HandoverFailed struct {
	HandoverID string `json:"handover_id"`
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason"`
}

// HandoverCancelled: an admin withdrew a pending handover.
type HandoverCancelled struct {
	HandoverID string `json:"handover_id"`
	CustomerID string `json:"customer_id"`
}

func (HandoverRequested) EventType() string { return "handover.requested" }
func (HandoverRefused) EventType() string   { return "handover.refused" }
func (HandoverCompleted) EventType() string { return "handover.completed" }
func (HandoverFailed) EventType() string    { return "handover.failed" }
func (HandoverCancelled) EventType() string { return "handover.cancelled" }

func init() {
	register(1, func() Payload { return &HandoverRequested{} })
	register(1, func() Payload { return &HandoverRefused{} })
	register(1, func() Payload { return &HandoverCompleted{} })
	register(1, func() Payload { return &HandoverFailed{} })
	register(1, func() Payload { return &HandoverCancelled{} })
}
