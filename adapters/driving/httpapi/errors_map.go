package httpapi

import (
	"net/http"

	"github.com/custody/custody/adapters/driving/wecom/connection"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events/eventlog"
	"github.com/custody/custody/projections"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/domain/outreach"
	"github.com/custody/custody/domain/staff"
)

// sentinels maps the sentinel errors of the layers below (domain/,
// commands/, projections/, the event log port) to HTTP statuses and stable
// codes. It is the ONE place where that mapping lives; errorOf walks it in
// order and the first match wins, so specific errors come before general
// ones. 404: a missing aggregate or row; 400: input the rules reject
// whatever the state; 409: a command the current state refuses. Each rule
// has its own code so clients can react without parsing text.
var sentinels = func() []sentinelMapping {
	const (
		notFound = http.StatusNotFound
		bad      = http.StatusBadRequest
		conflict = http.StatusConflict
	)
	return []sentinelMapping{
		// commands and projections
		{commands.ErrInvalidCommand, bad, CodeInvalidArgument},
		{commands.ErrUnknownCorp, notFound, "corp_not_found"},
		{commands.ErrUnreadableStream, http.StatusInternalServerError, CodeInternal},
		{projections.ErrNotFound, notFound, CodeNotFound},
		{projections.ErrBadCursor, bad, "bad_cursor"},
		// customer
		{customer.ErrInvalidArgument, bad, CodeInvalidArgument},
		{customer.ErrMessageTooLong, bad, "message_too_long"},
		{customer.ErrSameStaff, bad, "same_staff"},
		{customer.ErrRelationNotFound, notFound, "relation_not_found"},
		{customer.ErrHandoverNotFound, notFound, "handover_not_found"},
		{customer.ErrUnknownTarget, notFound, "staff_not_found"},
		{customer.ErrErased, conflict, "customer_erased"},
		{customer.ErrRelationActive, conflict, "relation_active"},
		{customer.ErrRelationNotActive, conflict, "relation_not_active"},
		{customer.ErrHandoverExists, conflict, "handover_exists"},
		{customer.ErrHandoverPending, conflict, "handover_pending"},
		{customer.ErrTargetDeparted, conflict, "target_departed"},
		{customer.ErrOwnerDeparted, conflict, "owner_departed"},
		{customer.ErrOwnerNotDeparted, conflict, "owner_not_departed"},
		{customer.ErrAssignmentWindowClosed, conflict, "assignment_window_closed"},
		{customer.ErrHandoverLimitReached, conflict, "handover_limit_reached"},
		{customer.ErrHandoverNotPending, conflict, "handover_not_pending"},
		{customer.ErrHandoverWindowClosed, conflict, "handover_window_closed"},
		{customer.ErrHandoverNotDue, conflict, "handover_not_due"},
		// staff
		{staff.ErrInvalidID, bad, CodeInvalidID},
		{staff.ErrInvalidCapacity, bad, "invalid_capacity"},
		{staff.ErrNotJoined, notFound, "staff_not_found"},
		{staff.ErrAlreadyJoined, conflict, "staff_already_joined"},
		{staff.ErrDeparted, conflict, "staff_departed"},
		{staff.ErrErased, conflict, "staff_erased"},
		{staff.ErrAtCapacity, conflict, "staff_at_capacity"},
		// group chats
		{groupchat.ErrInvalidArgument, bad, CodeInvalidArgument},
		{groupchat.ErrSameOwner, bad, "same_owner"},
		{groupchat.ErrNotCreated, notFound, "group_not_found"},
		{groupchat.ErrNotMember, notFound, "member_not_found"},
		{groupchat.ErrUnknownTarget, notFound, "staff_not_found"},
		{groupchat.ErrAlreadyCreated, conflict, "group_exists"},
		{groupchat.ErrDismissed, conflict, "group_dismissed"},
		{groupchat.ErrAlreadyMember, conflict, "already_member"},
		{groupchat.ErrGroupFull, conflict, "group_full"},
		{groupchat.ErrTargetDeparted, conflict, "target_departed"},
		{groupchat.ErrOwnerDeparted, conflict, "owner_departed"},
		{groupchat.ErrOwnerNotDeparted, conflict, "owner_not_departed"},
		{groupchat.ErrTransferLimitReached, conflict, "transfer_limit_reached"},
		// outreach
		{outreach.ErrAlreadyPlanned, conflict, "already_planned"},
		{outreach.ErrInvalidArgument, bad, CodeInvalidArgument},
		// WeCom, for corps whose changes are carried out there
		{commands.ErrRefusedByWeCom, conflict, "refused_by_wecom"},
		{commands.ErrWeComUnavailable, http.StatusBadGateway, "wecom_unavailable"},
		// WeCom connections
		{connection.ErrInvalid, bad, CodeInvalidArgument},
		{connection.ErrNotFound, notFound, "wecom_not_connected"},
		// settings
		{corp.ErrInvalidSettings, http.StatusInternalServerError, CodeInternal},
		// the event log port
		{eventlog.ErrConflict, conflict, CodeConflict},
		{eventlog.ErrStreamNotFound, notFound, CodeNotFound},
		{eventlog.ErrInvalidEvent, http.StatusUnprocessableEntity, CodeInvalidArgument},
		{eventlog.ErrClosed, http.StatusServiceUnavailable, CodeUnavailable},
		{eventlog.ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable},
	}
}()
