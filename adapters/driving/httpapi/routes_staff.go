package httpapi

import (
	"net/http"

	"github.com/custody/custody/projections"
)

// joinStaffRequest records staff.joined.
type joinStaffRequest struct {
	StaffID string `json:"staff_id" doc:"WeCom userid"`
	// Name is personal data: sealed in the log, never logged.
	Name     string `json:"name,omitempty" doc:"personal data, sealed"`
	Capacity int    `json:"capacity,omitempty" doc:"most customers served, 1-1000000; 0 = the corp's default"`
	commandFields
}

type departStaffRequest struct {
	commandFields
}

type eraseStaffRequest struct {
	commandFields
}

type capacityRequest struct {
	Capacity int `json:"capacity" doc:"most customers served, 1-1000000; 0 = back to the corp's default"`
	commandFields
}

func staffRoutes() []route {
	const tag = "staff"
	return []route{
		{method: "POST", path: "/v1/corps/{corp}/staff", op: "joinStaff", tag: tag, write: true, status: http.StatusCreated,
			summary: "A staff member joined (staff.joined).", request: joinStaffRequest{}, response: CommandResult{}, handle: joinStaff},
		{method: "POST", path: "/v1/corps/{corp}/staff/{staff}/departure", op: "departStaff", tag: tag, write: true,
			summary: "A staff member departed; their relations become unassigned.", request: departStaffRequest{}, optionalBody: true, response: DepartResult{}, handle: departStaff},
		{method: "PUT", path: "/v1/corps/{corp}/staff/{staff}/capacity", op: "changeStaffCapacity", tag: tag, write: true,
			summary: "Change a staff member's customer limit.", request: capacityRequest{}, response: CommandResult{}, handle: changeCapacity},
		{method: "POST", path: "/v1/corps/{corp}/staff/{staff}/erasure", op: "eraseStaff", tag: tag, write: true,
			summary: "Erase the staff member's personal data (PIPL Art. 47): their name and group nicknames; ids, relations, slots and history stay.",
			request: eraseStaffRequest{}, optionalBody: true, response: CommandResult{}, handle: eraseStaff},
		{method: "GET", path: "/v1/corps/{corp}/staff", op: "listStaff", tag: tag,
			summary: "Staff members with their active-customer counts, paged by cursor.", response: projections.Paged[projections.StaffMember]{},
			query: []queryParam{
				{name: "status", typ: "string", desc: "active or departed; default all"},
				{name: "cursor", typ: "string", desc: "next of the previous page"},
				{name: "limit", typ: "integer", desc: "page size, 1-500, default 100"},
			}, handle: listStaff},
		{method: "GET", path: "/v1/corps/{corp}/staff/{staff}", op: "getStaff", tag: tag,
			summary: "A staff member with status, capacity and customer counts.", response: projections.StaffMember{}, handle: getStaff},
		{method: "GET", path: "/v1/corps/{corp}/staff/{staff}/customers", op: "listStaffCustomers", tag: tag,
			summary: "A staff member's customers, paged by cursor.", response: projections.Paged[projections.Relation]{},
			query: []queryParam{
				{name: "cursor", typ: "string", desc: "next of the previous page"},
				{name: "limit", typ: "integer", desc: "page size, 1-500, default 100"},
				{name: "status", typ: "string", desc: "relation status: active (default), ended, unassigned, all"},
			}, handle: listStaffCustomers},
	}
}
