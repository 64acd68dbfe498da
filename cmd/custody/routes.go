package main

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/custody/custody/adapters/driving/relay"
)

// Route options ride on the route's URL as query parameters that custody
// removes before the relay opens the broker:
//
//	crm=nats://mq:4222?prefix=crm&topics=handover:crm.ho,*:crm.all&corps=a,b&types=handover.*,customer&pii=true
//
// Any other query parameter stays on the URL for the broker's client
// (postgres://…?sslmode=disable).
const (
	routeOptPrefix = "prefix" // Route.TopicPrefix
	routeOptTopics = "topics" // Route.Topics: KEY:TOPIC,...
	routeOptCorps  = "corps"  // Route.Corps
	routeOptTypes  = "types"  // Route.Types
	routeOptPII    = "pii"    // Route.IncludePII: true or false
)

var (
	// routeName is a route's name: its checkpoint key and metric label.
	routeName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	// topicName is what a topic or a prefix may be called.
	topicName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	// typeKey is an event type ("handover.requested") or a category
	// ("handover"); types also takes "<category>.*".
	typeKey = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$`)
	// corpID is a WeCom corpid or a test corp's name.
	corpID = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// parseRelayRoutes reads CUSTODY_RELAY_ROUTES: "NAME=URL" entries separated
// by spaces, tabs, newlines or ';', each URL optionally carrying the route
// options above. Every mistake is reported, naming the variable and the
// route, never a password.
func parseRelayRoutes(s string) ([]relay.Route, error) {
	var out []relay.Route
	var errs []error
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ' ' || r == '\n' || r == '\t' }) {
		name, u, ok := strings.Cut(f, "=")
		if !ok || name == "" || u == "" {
			errs = append(errs, fmt.Errorf("CUSTODY_RELAY_ROUTES: entry %q: want NAME=URL", redactRoute(f)))
			continue
		}
		if !routeName.MatchString(name) {
			errs = append(errs, fmt.Errorf("CUSTODY_RELAY_ROUTES: route name %q: use letters, digits, '_', '-', '.'", name))
			continue
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("CUSTODY_RELAY_ROUTES: route %q is named twice", name))
			continue
		}
		seen[name] = true
		r, err := parseRouteOptions(name, u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// parseRouteOptions takes the route options off rawURL.
func parseRouteOptions(name, rawURL string) (relay.Route, error) {
	r := relay.Route{Name: name, URL: rawURL}
	base, query, hasQuery := strings.Cut(rawURL, "?")
	if !hasQuery {
		return r, nil
	}
	var keep []string
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("CUSTODY_RELAY_ROUTES: route %q: "+format, append([]any{name}, args...)...))
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		k, rawV, _ := strings.Cut(kv, "=")
		switch k {
		case routeOptPrefix, routeOptTopics, routeOptCorps, routeOptTypes, routeOptPII:
		default:
			keep = append(keep, kv) // the broker's own parameter
			continue
		}
		if seen[k] {
			bad("option %s given twice", k)
			continue
		}
		seen[k] = true
		v, err := url.QueryUnescape(rawV)
		if err != nil || v == "" {
			bad("option %s needs a value", k)
			continue
		}
		switch k {
		case routeOptPrefix:
			if !topicName.MatchString(v) {
				bad("prefix %q: use letters, digits, '_', '-', '.'", v)
			}
			r.TopicPrefix = v
		case routeOptPII:
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad("pii=%q: want true or false", v)
			}
			r.IncludePII = b
		case routeOptCorps:
			for _, c := range strings.Split(v, ",") {
				if !corpID.MatchString(c) {
					bad("corps: %q is not a corp id", c)
					continue
				}
				r.Corps = append(r.Corps, c)
			}
		case routeOptTypes:
			for _, t := range strings.Split(v, ",") {
				if !typeKey.MatchString(strings.TrimSuffix(t, ".*")) {
					bad("types: %q is not an event type, a category or CATEGORY.*", t)
					continue
				}
				r.Types = append(r.Types, t)
			}
		case routeOptTopics:
			r.Topics = map[string]string{}
			for _, e := range strings.Split(v, ",") {
				key, topic, ok := strings.Cut(e, ":")
				switch {
				case !ok:
					bad("topics: %q: want KEY:TOPIC", e)
				case key != "*" && !typeKey.MatchString(key):
					bad("topics: %q: KEY is an event type, a category or *", e)
				case !topicName.MatchString(topic):
					bad("topics: %q: TOPIC: use letters, digits, '_', '-', '.'", e)
				case r.Topics[key] != "":
					bad("topics: %q is mapped twice", key)
				default:
					r.Topics[key] = topic
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return relay.Route{}, err
	}
	r.URL = base
	if len(keep) > 0 {
		r.URL += "?" + strings.Join(keep, "&")
	}
	return r, nil
}
