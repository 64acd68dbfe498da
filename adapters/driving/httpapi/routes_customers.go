package httpapi

import "net/http"

// relationFields are the editable parts of a relation. Remark, description,
// phones and the customer's name are personal data: sealed, never logged.
type relationFields struct {
	Tags         []string `json:"tags,omitempty"`
	CustomerName string   `json:"customer_name,omitempty" doc:"personal data, sealed"`
	Remark       string   `json:"remark,omitempty" doc:"personal data, sealed"`
	Description  string   `json:"description,omitempty" doc:"personal data, sealed"`
	Phones       []string `json:"phones,omitempty" doc:"personal data, sealed"`
}

// startRelationRequest records customer.relation_started.
type startRelationRequest struct {
	StaffID   string `json:"staff_id"`
	Initiator string `json:"initiator" doc:"staff (staff added the customer) or customer (customer added the staff member)"`
	AddWay    int    `json:"add_way,omitempty" doc:"WeCom add_way code, 0-2147483647"`
	State     string `json:"state,omitempty" doc:"channel code of the QR code or link"`
	relationFields
	commandFields
}

type editRelationRequest struct {
	relationFields
	commandFields
}

// endRelationRequest records customer.relation_ended.
type endRelationRequest struct {
	By string `json:"by" doc:"customer (the customer deleted the staff member: churn), staff (the staff member deleted the customer) or reconciled (found gone by a reconciliation with WeCom)"`
	commandFields
}

type momentsRequest struct {
	Source string `json:"source,omitempty" doc:"the channel that reported it"`
	commandFields
}

type consentRequest struct {
	Purpose string `json:"purpose" doc:"chat_archive or marketing"`
	State   string `json:"state" doc:"agree, disagree or default_agree"`
	commandFields
}

type eraseRequest struct {
	commandFields
}

func customerRoutes() []route {
	const tag = "customers"
	base := "/v1/corps/{corp}/customers/{customer}"
	return []route{
		{method: "POST", path: base + "/relations", op: "startRelation", tag: tag, write: true, status: http.StatusCreated,
			summary: "A staff member and the customer connected (either side added the other).", request: startRelationRequest{}, response: CommandResult{}, handle: startRelation},
		{method: "PATCH", path: base + "/relations/{staff}", op: "editRelation", tag: tag, write: true,
			summary: "Replace remark, description, phones and tags of an active relation.", request: editRelationRequest{}, response: CommandResult{}, handle: editRelation},
		{method: "POST", path: base + "/relations/{staff}/end", op: "endRelation", tag: tag, write: true,
			summary: "The relation ended: deleted by the customer (churn) or by the staff member.", request: endRelationRequest{}, response: CommandResult{}, handle: endRelation},
		{method: "POST", path: base + "/moments/{staff}/opt-out", op: "optOutMoments", tag: tag, write: true,
			summary: "The customer no longer wants this staff member's moments.", request: momentsRequest{}, optionalBody: true, response: CommandResult{}, handle: optOutMoments},
		{method: "POST", path: base + "/moments/{staff}/opt-in", op: "optInMoments", tag: tag, write: true,
			summary: "The customer sees this staff member's moments again.", request: momentsRequest{}, optionalBody: true, response: CommandResult{}, handle: optInMoments},
		{method: "POST", path: base + "/consents", op: "recordConsent", tag: tag, write: true,
			summary: "Record the customer's consent for a purpose.", request: consentRequest{}, response: CommandResult{}, handle: recordConsent},
		{method: "POST", path: base + "/erasure", op: "eraseCustomer", tag: tag, write: true,
			summary: "Erase the customer's personal data (PIPL Art. 47); history stays, pseudonymous.", request: eraseRequest{}, optionalBody: true, response: CommandResult{}, handle: eraseCustomer},
		{method: "GET", path: base, op: "getCustomer", tag: tag,
			summary: "A customer with relations, opt-outs, groups, handovers and a readable timeline.", response: CustomerDetail{}, handle: getCustomer},
		{method: "GET", path: base + "/owners", op: "customerOwners", tag: tag,
			summary: "The staff members who owned the customer at a time, as `custody asof owners` answers it: only what was true then (no end that came later), each with `unassigned` (the member had departed by then).", response: OwnersAt{},
			query:  []queryParam{{name: "at", typ: "string", format: "date-time", desc: "RFC 3339 time; default now"}},
			handle: customerOwners},
	}
}
