package events

// Staff events live on the stream StaffStream(corp, staff_id).

// StaffJoined: a staff member (成员) joined and can serve customers.
type StaffJoined struct {
	StaffID string `json:"staff_id"`
	// Capacity is the most customers the member may serve; 0 means the
	// corp's default.
	Capacity int      `json:"capacity,omitempty"`
	PII      StaffPII `json:"-"`
}

// StaffPII is a staff member's personal data.
type StaffPII struct {
	Name string `json:"name,omitempty"`
}

// StaffDeparted: the member left the corp. Their active relations become
// unassigned (离职待分配) and wait for a resigned handover.
type StaffDeparted struct {
	StaffID string `json:"staff_id"`
}

// StaffErased: the member's personal data was erased on request (PIPL
// Art. 47; staff are data subjects too). Their data key is destroyed —
// the name of staff.joined and their group nicknames, all sealed under
// StaffSubject(corp, staff_id), become unreadable — while ids, relations,
// slots and the rest of the history stay, pseudonymous.
type StaffErased struct {
	StaffID string `json:"staff_id"`
}

// StaffCapacityChanged: the member's customer limit changed.
type StaffCapacityChanged struct {
	StaffID  string `json:"staff_id"`
	Capacity int    `json:"capacity"`
}

// Slot reasons.
const (
	SlotForAdd      = "added"    // the member added (or was added by) the customer
	SlotForHandover = "handover" // reserved for a pending handover to the member
)

// Slot release reasons.
const (
	SlotReleasedRelationEnded   = "relation_ended"
	SlotReleasedHandoverSettled = "handover_settled" // refused, failed or cancelled
	SlotReleasedHandedOver      = "handed_over"      // the old owner's slot after a completed handover
	SlotReleasedDeparted        = "departed"
	SlotReleasedReservationUndo = "reservation_undone" // compensation when the customer side rejected
	// SlotReleasedOrphaned: the slot was reserved for a handover that its
	// customer's stream never recorded (a process died between the two
	// appends of a request, when requests still reserved first).
	SlotReleasedOrphaned = "orphaned"
)

// StaffSlotReserved: one of the member's capacity slots is taken for a
// customer. Appended with an exact expected version on the staff stream, so
// concurrent handovers to one target can never exceed its capacity.
type StaffSlotReserved struct {
	StaffID    string `json:"staff_id"`
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason"`
	HandoverID string `json:"handover_id,omitempty"`
}

// StaffSlotReleased: a slot taken for a customer is free again.
type StaffSlotReleased struct {
	StaffID    string `json:"staff_id"`
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason"`
	HandoverID string `json:"handover_id,omitempty"`
}

func (StaffJoined) EventType() string          { return "staff.joined" }
func (StaffDeparted) EventType() string        { return "staff.departed" }
func (StaffErased) EventType() string          { return "staff.erased" }
func (StaffCapacityChanged) EventType() string { return "staff.capacity_changed" }
func (StaffSlotReserved) EventType() string    { return "staff.slot_reserved" }
func (StaffSlotReleased) EventType() string    { return "staff.slot_released" }

func (e *StaffJoined) PersonalData() any              { return &e.PII }
func (e *StaffJoined) DataSubject(corp string) string { return StaffSubject(corp, e.StaffID) }

func init() {
	register(1, func() Payload { return &StaffJoined{} })
	register(1, func() Payload { return &StaffDeparted{} })
	register(1, func() Payload { return &StaffErased{} })
	register(1, func() Payload { return &StaffCapacityChanged{} })
	register(1, func() Payload { return &StaffSlotReserved{} })
	register(1, func() Payload { return &StaffSlotReleased{} })
}
