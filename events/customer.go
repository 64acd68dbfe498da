package events

import "time"

// Customer events live on the stream CustomerStream(corp, customer_id); their
// personal data is sealed under CustomerSubject(corp, customer_id).

// Initiators of a relation.
const (
	InitiatorStaff    = "staff"    // the staff member added the customer
	InitiatorCustomer = "customer" // the customer added the staff member
)

// How a relation started.
const (
	StartedByAdd      = "added"
	StartedByHandover = "handover"
)

// Relation end reasons.
const (
	EndDeletedByStaff    = "deleted_by_staff"    // staff deleted the customer (del_external_contact)
	EndDeletedByCustomer = "deleted_by_customer" // customer deleted the staff member: churn (del_follow_user)
	EndHandedOver        = "handed_over"         // a handover moved the relation to another member
	EndReconciled        = "reconciled"          // found missing by a reconciliation against WeCom
	// EndHandedOverInWeCom: WeCom removed the customer from the member by a
	// handover custody did not request (del_external_contact with Source
	// DELETE_BY_TRANSFER); the new owner's relation starts with WeCom's add.
	EndHandedOverInWeCom = "handed_over_in_wecom"
)

// CustomerRelationStarted: a staff member and a customer are now connected.
type CustomerRelationStarted struct {
	CustomerID string `json:"customer_id"`
	StaffID    string `json:"staff_id"`
	// Initiator is InitiatorStaff or InitiatorCustomer.
	Initiator string `json:"initiator"`
	// AddWay is WeCom's add_way code (e.g. 1 QR code, 3 search by phone).
	AddWay int `json:"add_way"`
	// State is the channel code of the 「联系我」 QR code or link.
	State string   `json:"state,omitempty"`
	Tags  []string `json:"tags,omitempty"`
	// StartedBy is StartedByAdd or StartedByHandover.
	StartedBy  string      `json:"started_by"`
	HandoverID string      `json:"handover_id,omitempty"`
	PII        RelationPII `json:"-"`
}

// RelationPII is the personal part of a relation.
type RelationPII struct {
	CustomerName string   `json:"customer_name,omitempty"`
	Remark       string   `json:"remark,omitempty"`
	Description  string   `json:"description,omitempty"`
	Phones       []string `json:"phones,omitempty"`
}

// CustomerRelationEdited: remark, description, phones or tags changed on an
// active relation. The event carries the full new values.
type CustomerRelationEdited struct {
	CustomerID string      `json:"customer_id"`
	StaffID    string      `json:"staff_id"`
	Tags       []string    `json:"tags"`
	PII        RelationPII `json:"-"`
}

// CustomerRelationEnded: the relation is over.
type CustomerRelationEnded struct {
	CustomerID string `json:"customer_id"`
	StaffID    string `json:"staff_id"`
	// Reason is one of the End* constants.
	Reason     string `json:"reason"`
	HandoverID string `json:"handover_id,omitempty"`
}

// CustomerErased: the customer's personal data was erased on request
// (PIPL Art. 47). Their data key is destroyed; history stays, pseudonymous.
type CustomerErased struct {
	CustomerID string `json:"customer_id"`
}

// MomentsOptedOut: the customer no longer wants the staff member's moments.
type MomentsOptedOut struct {
	CustomerID string `json:"customer_id"`
	StaffID    string `json:"staff_id"`
	// Source says which channel reported it (WeCom exposes no signal).
	Source string `json:"source,omitempty"`
}

// MomentsOptedIn: the customer sees the staff member's moments again.
type MomentsOptedIn struct {
	CustomerID string `json:"customer_id"`
	StaffID    string `json:"staff_id"`
	Source     string `json:"source,omitempty"`
}

// Consent purposes and states.
const (
	PurposeChatArchive = "chat_archive"
	PurposeMarketing   = "marketing"

	ConsentAgree        = "agree"
	ConsentDisagree     = "disagree"
	ConsentDefaultAgree = "default_agree"
)

// ConsentRecorded: the customer's choice for a purpose changed.
//
// Schema v2. v1 stored `agreed` (a boolean); the upcaster maps true to
// "agree" and false to "disagree".
type ConsentRecorded struct {
	CustomerID string    `json:"customer_id"`
	Purpose    string    `json:"purpose"`
	State      string    `json:"state"`
	ChangedAt  time.Time `json:"changed_at"`
}

func (CustomerRelationStarted) EventType() string { return "customer.relation_started" }
func (CustomerRelationEdited) EventType() string  { return "customer.relation_edited" }
func (CustomerRelationEnded) EventType() string   { return "customer.relation_ended" }
func (CustomerErased) EventType() string          { return "customer.erased" }
func (MomentsOptedOut) EventType() string         { return "moments.opted_out" }
func (MomentsOptedIn) EventType() string          { return "moments.opted_in" }
func (ConsentRecorded) EventType() string         { return "consent.recorded" }

func (e *CustomerRelationStarted) PersonalData() any { return &e.PII }
func (e *CustomerRelationStarted) DataSubject(corp string) string {
	return CustomerSubject(corp, e.CustomerID)
}
func (e *CustomerRelationEdited) PersonalData() any { return &e.PII }
func (e *CustomerRelationEdited) DataSubject(corp string) string {
	return CustomerSubject(corp, e.CustomerID)
}

func init() {
	register(1, func() Payload { return &CustomerRelationStarted{} })
	register(1, func() Payload { return &CustomerRelationEdited{} })
	register(1, func() Payload { return &CustomerRelationEnded{} })
	register(1, func() Payload { return &CustomerErased{} })
	register(1, func() Payload { return &MomentsOptedOut{} })
	register(1, func() Payload { return &MomentsOptedIn{} })
	register(2, func() Payload { return &ConsentRecorded{} })
	registerUpcaster("consent.recorded", 1, upcastConsentV1)
}

// CustomerOf is the customer id every customer-stream payload carries;
// false for a payload of another stream category.
func CustomerOf(p Payload) (string, bool) {
	switch e := p.(type) {
	case *CustomerRelationStarted:
		return e.CustomerID, true
	case *CustomerRelationEdited:
		return e.CustomerID, true
	case *CustomerRelationEnded:
		return e.CustomerID, true
	case *CustomerErased:
		return e.CustomerID, true
	case *MomentsOptedOut:
		return e.CustomerID, true
	case *MomentsOptedIn:
		return e.CustomerID, true
	case *ConsentRecorded:
		return e.CustomerID, true
	case *HandoverRequested:
		return e.CustomerID, true
	case *HandoverRefused:
		return e.CustomerID, true
	case *HandoverCompleted:
		return e.CustomerID, true
	case *HandoverFailed:
		return e.CustomerID, true
	case *HandoverCancelled:
		return e.CustomerID, true
	}
	return "", false
}
