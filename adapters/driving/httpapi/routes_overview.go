package httpapi

func overviewRoutes() []route {
	return []route{
		{method: "GET", path: "/v1/corps/{corp}/overview", op: "overview", tag: "overview",
			summary:  "Dashboard numbers: headline, handover pipeline, churn by staff, unassigned by departed staff.",
			response: Overview{}, handle: func(c *call) (any, error) { return c.srv.overview(c.ctx, c.corp) }},
	}
}
