package httpapi

import (
	"net/http"
	"time"

	"github.com/custody/custody/projections"
)

// handoverRequest asks for in-service or resigned handovers of up to 100
// customers from one staff member to another.
type handoverRequest struct {
	Kind        string   `json:"kind" doc:"in_service (from an active member) or resigned (from a departed member)"`
	FromStaffID string   `json:"from_staff_id"`
	ToStaffID   string   `json:"to_staff_id"`
	CustomerIDs []string `json:"customer_ids" doc:"1-100 customers"`
	Message     string   `json:"message,omitempty" doc:"message to the customers, at most 200 characters"`
	commandFields
}

type settleHandoverRequest struct {
	commandFields
}

type settleRequest struct {
	AsOf *time.Time `json:"as_of,omitempty" doc:"settle handovers due at this time; default now"`
	commandFields
}

func handoverRoutes() []route {
	const tag = "handovers"
	return []route{
		{method: "POST", path: "/v1/corps/{corp}/handovers", op: "requestHandovers", tag: tag, write: true, status: http.StatusCreated, noneCreated: http.StatusOK,
			summary: "Request handovers of one or many customers; answers an outcome per customer (a rejected one carries no handover_id).", request: handoverRequest{}, response: HandoverBatchResult{}, handle: requestHandovers},
		{method: "POST", path: "/v1/corps/{corp}/customers/{customer}/handovers/{handover}/refusal", op: "refuseHandover", tag: tag, write: true,
			summary: "The customer refused a pending handover within the window.", request: settleHandoverRequest{}, optionalBody: true, response: CommandResult{}, handle: refuseHandover},
		{method: "POST", path: "/v1/corps/{corp}/customers/{customer}/handovers/{handover}/cancellation", op: "cancelHandover", tag: tag, write: true,
			summary: "An admin withdrew a pending handover.", request: settleHandoverRequest{}, optionalBody: true, response: CommandResult{}, handle: cancelHandover},
		{method: "POST", path: "/v1/corps/{corp}/handovers/settle", op: "settleHandovers", tag: tag, write: true,
			summary: "Complete (or fail) every pending handover whose window is over.", request: settleRequest{}, optionalBody: true, response: SettleResult{}, handle: settleHandovers},
		{method: "GET", path: "/v1/corps/{corp}/handovers", op: "listHandovers", tag: tag,
			summary: "Handovers by status, paged by cursor.", response: projections.Paged[projections.Handover]{},
			query: []queryParam{
				{name: "status", typ: "string", desc: "pending, completed, refused, failed, cancelled; default all"},
				{name: "cursor", typ: "string", desc: "next of the previous page"},
				{name: "limit", typ: "integer", desc: "page size, 1-500, default 100"},
			}, handle: listHandovers},
		{method: "GET", path: "/v1/corps/{corp}/unassigned", op: "listUnassigned", tag: tag,
			summary: "Relations of departed staff waiting for a resigned handover.", response: projections.Paged[projections.UnassignedRelation]{},
			query: []queryParam{
				{name: "staff_id", typ: "string", desc: "only this departed staff member's"},
				{name: "cursor", typ: "string", desc: "next of the previous page"},
				{name: "limit", typ: "integer", desc: "page size, 1-500, default 100"},
			},
			handle: listUnassigned},
	}
}
