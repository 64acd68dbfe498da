package httpapi

import (
	"github.com/custody/custody/adapters/tools/erasure"
	"github.com/custody/custody/events"
)

// erasureRoutes are the privacy officer's check (custody erasure verify)
// over HTTP. Known values are not taken: they would travel in a URL; the
// CLI's --value does that.
func erasureRoutes() []route {
	const tag = "erasure"
	return []route{
		{method: "GET", path: "/v1/corps/{corp}/customers/{customer}/erasure", op: "verifyCustomerErasure", tag: tag, admin: true,
			summary:  "Admin token only. Residue of the customer's personal data anywhere SQL can read: its key, rows in every custody schema (live, rebuild, replay), values found there in every table and in pg_stats (docs/erasure.md). Reads every table: slow on large databases.",
			response: erasure.Report{}, handle: verifyCustomerErasure},
		{method: "GET", path: "/v1/corps/{corp}/staff/{staff}/erasure", op: "verifyStaffErasure", tag: tag, admin: true,
			summary:  "Admin token only. The same check for a staff member's personal data.",
			response: erasure.Report{}, handle: verifyStaffErasure},
	}
}

func verifyCustomerErasure(c *call) (any, error) {
	id, err := c.id("customer")
	if err != nil {
		return nil, err
	}
	return verifyErasure(c, events.CustomerSubject(c.corp, id))
}

func verifyStaffErasure(c *call) (any, error) {
	id, err := c.id("staff")
	if err != nil {
		return nil, err
	}
	return verifyErasure(c, events.StaffSubject(c.corp, id))
}

// verifyErasure answers the report, 200 whether or not it is clean (the
// report says so). The route is the admin's: it reads every table.
func verifyErasure(c *call, subject string) (any, error) {
	return erasure.Verify(c.ctx, c.srv.opts.Projections, subject, erasure.VerifyOptions{Now: c.now()})
}
