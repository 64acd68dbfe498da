// Package console is the sales-ops console: server-rendered HTML pages over
// the projections (overview, staff, departed members and their unassigned
// customers, customers, handovers, groups, channels) and the handover
// workflow (resigned and in-service handovers, cancellation, group
// transfers), carried out by the same command handlers as the JSON API.
//
// It speaks zh-CN and English (Accept-Language, with a switch), shows every
// time in the corp's time zone (the corp setting time_zone) with the zone
// named, and works from 360 px wide (WeCom's in-app browser) to a desktop,
// without JavaScript, a build step or anything loaded from elsewhere:
// templates, CSS and SVG charts are embedded.
//
// Sign-in takes an API token (httpapi): the session is an AES-GCM sealed,
// HttpOnly, SameSite=Strict cookie holding it, re-checked on every request
// so a revoked token ends its sessions. Every form carries a CSRF token
// bound to the session; a post without it is refused with 403. A corp
// token sees its corp only; a viewer token (httpapi.KindViewer) sees pages
// but no forms, and personal data only when allowed.
//
// Page queries are this package's own SQL over the projection tables
// (schema projections); each one is listed in pageQueries so a test can
// EXPLAIN it over a large corp.
package console
