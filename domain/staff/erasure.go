package staff

import "github.com/custody/custody/events"

// Erase records staff.erased. The caller then destroys the member's data
// key, which also makes their group nicknames unreadable (they are sealed
// under the same subject). Erasing an erased member records nothing.
//
// A member may be erased whatever their status, even one custody never saw
// join: a member who only ever appeared in a group chat has personal data
// (a nickname) too.
func (s *Staff) Erase() []events.Payload {
	if s.erased {
		return nil
	}
	return []events.Payload{&events.StaffErased{StaffID: s.id}}
}

// Erased reports whether staff.erased was recorded.
func (s *Staff) Erased() bool { return s.erased }
