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
//
// Schema v2. The message the customer receives is personal data of the
// customer, sealed under their key (PII.Message). v1 stored it in plain
// data as `message`; the upcaster moves it to LegacyMessage, which marks it
// as written before messages were sealed: it is not sealed in the log (the
// stored v1 bytes cannot be re-sealed without rewriting the log), and
// custody treats it as the customer's personal data everywhere else. Read
// the text with Text.
type HandoverRequested struct {
	HandoverID  string    `json:"handover_id"`
	CustomerID  string    `json:"customer_id"`
	Kind        string    `json:"kind"`
	FromStaffID string    `json:"from_staff_id"`
	ToStaffID   string    `json:"to_staff_id"`
	BatchID     string    `json:"batch_id,omitempty"`
	Deadline    time.Time `json:"deadline"`
	// LegacyMessage is the plain message of a v1 event; empty on v2.
	LegacyMessage string             `json:"legacy_message,omitempty"`
	PII           HandoverRequestPII `json:"-"`
}

// HandoverRequestPII is the personal part of a handover request.
type HandoverRequestPII struct {
	// Message is the text WeCom shows the customer (in-service handovers).
	Message string `json:"message,omitempty"`
}

// Text is the request's message: the sealed one, or a v1 event's plain one.
func (e *HandoverRequested) Text() string {
	if e.PII.Message != "" {
		return e.PII.Message
	}
	return e.LegacyMessage
}

func (e *HandoverRequested) PersonalData() any { return &e.PII }
func (e *HandoverRequested) DataSubject(corp string) string {
	return CustomerSubject(corp, e.CustomerID)
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
	register(2, func() Payload { return &HandoverRequested{} })
	registerUpcaster("handover.requested", 1, upcastHandoverRequestedV1)
	register(1, func() Payload { return &HandoverRefused{} })
	register(1, func() Payload { return &HandoverCompleted{} })
	register(1, func() Payload { return &HandoverFailed{} })
	register(1, func() Payload { return &HandoverCancelled{} })
}
