// Package demo seeds a realistic corp through custody's HTTP API, the way an
// integrator would: staff joining, customers added through several channel
// codes, churn in both directions, a departure followed by resigned
// handovers, in-service handovers with one refusal and one capacity failure,
// groups with members joining and leaving, moments opt-outs and consents.
//
// It is an ordinary API client: it knows the API only by its URL and a
// token. Every command carries an Idempotency-Key derived from the corp and
// the step, so running the demo twice against the same server records
// nothing new the second time.
//
// Business times are spread over the last days before Options.Now, so the
// dashboard's 7-day churn and adds charts have something to show, and the
// in-service handovers requested two days ago are due: the demo settles
// them at the end, as the server's settle job would within a minute.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Options configure Run.
type Options struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:8080. Required.
	URL string
	// Token is a bearer token valid for Corp (or the admin token). Required.
	Token string
	// Corp is the corp to seed; default "acme".
	Corp string
	// Now anchors the business times; default time.Now().
	Now time.Time
	// Client sends the requests; default a client with a 30 s timeout.
	Client *http.Client
	// Logger receives one line per phase; default slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Corp == "" {
		o.Corp = "acme"
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	// Whole hours: a re-run within the hour sends byte-identical requests
	// under the same Idempotency-Keys and is answered from the store.
	o.Now = o.Now.UTC().Truncate(time.Hour)
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.URL = strings.TrimSuffix(o.URL, "/")
}

// Validate reports every problem with o.
func (o Options) Validate() error {
	var errs []error
	if o.URL == "" {
		errs = append(errs, errors.New("demo: URL is required"))
	} else if u, err := url.Parse(o.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("demo: URL %q must be http(s)://host[:port]", o.URL))
	}
	if o.Token == "" {
		errs = append(errs, errors.New("demo: Token is required"))
	}
	return errors.Join(errs...)
}

// Summary counts what the demo did.
type Summary struct {
	Commands         int // commands sent (each answered 2xx)
	Replayed         int // answered from the idempotency store (a re-run)
	Staff            int
	Customers        int
	Churned          int
	HandoversPending int // requested and still pending after the settle
	HandoversFailed  int
	HandoversRefused int
	HandoversSettled int
	Groups           int
	MomentsOptOuts   int
	OverviewURL      string
	// Refused lists steps a domain rule refused (HTTP 409): none on a
	// fresh corp.
	Refused []string
	// Unexpected lists scenario expectations that did not hold.
	Unexpected []string
}

// APIError is a non-2xx answer of the API.
type APIError struct {
	Status  int
	Code    string
	Message string
	Step    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("demo: %s: HTTP %d %s: %s", e.Step, e.Status, e.Code, e.Message)
}

// Run seeds the corp. It stops at the first unexpected answer.
func Run(ctx context.Context, o Options) (Summary, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return Summary{}, err
	}
	d := &seeder{o: o}
	err := d.run(ctx)
	d.sum.OverviewURL = o.URL + "/?corp=" + url.QueryEscape(o.Corp)
	return d.sum, err
}

type seeder struct {
	o   Options
	sum Summary
}

// startAt is when customer i connected: four to six days before Now, so
// every relation predates frank's departure three days ago and the adds
// fall inside the dashboard's 7-day window.
func (d *seeder) startAt(i int) time.Time { return d.at(4+i%3, i%11) }

// at is a business time: days and hours before Now.
func (d *seeder) at(days, hours int) time.Time {
	return d.o.Now.Add(-time.Duration(days)*24*time.Hour - time.Duration(hours)*time.Hour)
}

// send posts one command with an Idempotency-Key made of the corp and step,
// decoding the answer into out (may be nil).
func (d *seeder) send(ctx context.Context, method, path, step string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("demo: %s: %w", step, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.o.URL+"/v1/corps/"+url.PathEscape(d.o.Corp)+path, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("demo: %s: %w", step, err)
	}
	req.Header.Set("Authorization", "Bearer "+d.o.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "demo:"+d.o.Now.Format("20060102T15")+":"+step)
	resp, err := d.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("demo: %s: %w", step, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("demo: %s: read answer: %w", step, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(raw, &eb)
		ae := &APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, Step: step}
		// A rule refusing one step (the corp already holds data the demo
		// did not write, e.g. alice joined by hand) is reported, not
		// fatal: the rest of the scenario still seeds.
		if resp.StatusCode == http.StatusConflict {
			d.sum.Refused = append(d.sum.Refused, ae.Error())
			d.o.Logger.Warn("demo: step refused by a rule", "step", step, "code", ae.Code)
			return nil
		}
		return ae
	}
	d.sum.Commands++
	if resp.Header.Get("Idempotent-Replayed") == "true" {
		d.sum.Replayed++
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("demo: %s: decode answer: %w", step, err)
		}
	}
	return nil
}

type staffMember struct {
	id, name string
	capacity int
}

// The corp's people. heidi has room for 3 customers only: the demo's
// capacity failure. frank departs. Names are invented.
var demoStaff = []staffMember{
	{"alice", "Li Na", 0}, {"bob", "Wang Qiang", 0}, {"carol", "Zhang Min", 0},
	{"dave", "Liu Yang", 0}, {"erin", "Chen Jing", 0}, {"frank", "Zhao Lei", 0},
	{"grace", "Sun Li", 0}, {"heidi", "Zhou Tao", 3},
}

// channels are the 「联系我」 channel codes customers come through, with
// WeCom's add_way for each.
var channels = []struct {
	state  string
	addWay int
}{
	{"qr_expo_shanghai", 1}, {"link_wechat_article", 0}, {"qr_store_hangzhou", 1},
	{"search_phone", 3}, {"card_share", 5},
}

var surnames = []string{"Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun"}
var givens = []string{"Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Jun", "Hua", "Ping", "Xin", "Hao", "Ying", "Tao"}

func customerID(i int) string { return fmt.Sprintf("wm_demo_%03d", i) }

// owners assigns the 60 customers round-robin over the first seven staff
// (not heidi, whose 3 slots are filled separately).
func ownerOf(i int) string { return demoStaff[i%7].id }

func (d *seeder) run(ctx context.Context) error {
	log := d.o.Logger
	// 1. Staff joined a month ago.
	for _, s := range demoStaff {
		body := map[string]any{"staff_id": s.id, "name": s.name, "occurred_at": d.at(30, 0)}
		if s.capacity > 0 {
			body["capacity"] = s.capacity
		}
		if err := d.send(ctx, "POST", "/staff", "staff-join-"+s.id, body, nil); err != nil {
			return err
		}
		d.sum.Staff++
	}
	log.Info("demo: staff joined", "corp", d.o.Corp, "staff", d.sum.Staff)

	// 2. Customers connected through several channels over the last week.
	const customers = 60
	for i := 0; i < customers; i++ {
		ch := channels[i%len(channels)]
		initiator := "customer"
		if i%3 == 0 {
			initiator = "staff"
		}
		name := surnames[i%len(surnames)] + " " + givens[(i*7)%len(givens)]
		body := map[string]any{
			"staff_id": ownerOf(i), "initiator": initiator, "add_way": ch.addWay, "state": ch.state,
			"customer_name": name, "remark": name + " (" + ch.state + ")",
			"tags":        []string{[]string{"vip", "new", "returning", "wholesale"}[i%4]},
			"occurred_at": d.startAt(i),
		}
		if i%4 == 0 {
			body["phones"] = []string{fmt.Sprintf("+86 138 0000 %04d", i)}
		}
		if err := d.send(ctx, "POST", "/customers/"+customerID(i)+"/relations", fmt.Sprintf("relation-%d", i), body, nil); err != nil {
			return err
		}
		d.sum.Customers++
	}
	// Some customers follow a second staff member.
	for i := 0; i < customers; i += 9 {
		second := demoStaff[(i+3)%7].id
		if second == ownerOf(i) {
			continue
		}
		body := map[string]any{"staff_id": second, "initiator": "customer", "add_way": 1, "state": "qr_expo_shanghai", "occurred_at": d.at(3, i%5)}
		if err := d.send(ctx, "POST", "/customers/"+customerID(i)+"/relations", fmt.Sprintf("relation-second-%d", i), body, nil); err != nil {
			return err
		}
	}
	// heidi's three customers fill her capacity.
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("wm_demo_h%d", i)
		body := map[string]any{"staff_id": "heidi", "initiator": "customer", "add_way": 1, "state": "qr_store_hangzhou", "occurred_at": d.at(5, i)}
		if err := d.send(ctx, "POST", "/customers/"+id+"/relations", "relation-heidi-"+id, body, nil); err != nil {
			return err
		}
		d.sum.Customers++
	}
	// Remarks and tags edited on a few.
	for i := 1; i < customers; i += 11 {
		body := map[string]any{"tags": []string{"vip", "follow-up"}, "remark": "prefers calls after 18:00", "occurred_at": d.at(3, 6)}
		if err := d.send(ctx, "PATCH", "/customers/"+customerID(i)+"/relations/"+ownerOf(i), fmt.Sprintf("edit-%d", i), body, nil); err != nil {
			return err
		}
	}
	log.Info("demo: customers added", "customers", d.sum.Customers)

	// 3. Churn both ways: customers deleting staff (流失) and staff deleting customers.
	churn := []struct {
		i  int
		by string
	}{{2, "customer"}, {9, "customer"}, {15, "customer"}, {23, "customer"}, {29, "customer"}, {38, "customer"}, {44, "customer"}, {4, "staff"}, {25, "staff"}, {46, "staff"}}
	for _, c := range churn {
		body := map[string]any{"by": c.by, "occurred_at": d.startAt(c.i).Add(20 * time.Hour)}
		if err := d.send(ctx, "POST", "/customers/"+customerID(c.i)+"/relations/"+ownerOf(c.i)+"/end", fmt.Sprintf("end-%d", c.i), body, nil); err != nil {
			return err
		}
		d.sum.Churned++
	}
	// One churned customer comes back to the same staff member: a new interval.
	if err := d.send(ctx, "POST", "/customers/"+customerID(2)+"/relations", "relation-readd-2",
		map[string]any{"staff_id": ownerOf(2), "initiator": "customer", "add_way": 1, "state": "qr_store_hangzhou", "occurred_at": d.at(0, 1)}, nil); err != nil {
		return err
	}
	log.Info("demo: churn recorded", "relations_ended", d.sum.Churned)

	// 4. In-service handovers two days ago: alice → bob (one refusal), and
	// carol → heidi, whose capacity is full (a capacity failure).
	var batch handoverBatch
	aliceCustomers := []string{customerID(7), customerID(14), customerID(21), customerID(28), customerID(35)}
	if err := d.send(ctx, "POST", "/handovers", "handover-alice-bob", map[string]any{
		"kind": "in_service", "from_staff_id": "alice", "to_staff_id": "bob", "customer_ids": aliceCustomers,
		"message": "Bob will take care of you from now on.", "occurred_at": d.at(2, 0),
	}, &batch); err != nil {
		return err
	}
	d.count(batch)
	refused := false
	for _, o := range batch.Outcomes {
		if o.Status == "pending" && o.HandoverID != "" {
			err := d.send(ctx, "POST", "/customers/"+o.CustomerID+"/handovers/"+o.HandoverID+"/refusal", "refuse-"+o.CustomerID,
				map[string]any{"occurred_at": d.at(1, 20)}, nil)
			if err != nil {
				return err
			}
			d.sum.HandoversRefused++
			refused = true
			break
		}
	}
	if !refused {
		d.sum.Unexpected = append(d.sum.Unexpected, "no pending handover to refuse")
	}
	var full handoverBatch
	if err := d.send(ctx, "POST", "/handovers", "handover-carol-heidi", map[string]any{
		"kind": "in_service", "from_staff_id": "carol", "to_staff_id": "heidi", "customer_ids": []string{customerID(51)},
		"occurred_at": d.at(2, 0),
	}, &full); err != nil {
		return err
	}
	d.count(full)
	log.Info("demo: in-service handovers requested")

	// 5. frank departs three days ago; grace takes part of his customers
	// (resigned handovers); the rest stay unassigned on the dashboard.
	if err := d.send(ctx, "POST", "/staff/frank/departure", "depart-frank", map[string]any{"occurred_at": d.at(3, 0)}, nil); err != nil {
		return err
	}
	var franks []string
	for i := 0; i < customers; i++ {
		if ownerOf(i) == "frank" && !churned(churn, i) {
			franks = append(franks, customerID(i))
		}
	}
	half := franks[:len(franks)/2]
	var resigned handoverBatch
	if err := d.send(ctx, "POST", "/handovers", "handover-frank-grace", map[string]any{
		"kind": "resigned", "from_staff_id": "frank", "to_staff_id": "grace", "customer_ids": half,
		"message": "Grace is your new contact.", "occurred_at": d.at(2, 1),
	}, &resigned); err != nil {
		return err
	}
	d.count(resigned)
	// A fresh in-service handover today stays pending: the pipeline shows it.
	var fresh handoverBatch
	if err := d.send(ctx, "POST", "/handovers", "handover-dave-erin", map[string]any{
		"kind": "in_service", "from_staff_id": "dave", "to_staff_id": "erin", "customer_ids": []string{customerID(3), customerID(17)},
		"occurred_at": d.at(0, 2),
	}, &fresh); err != nil {
		return err
	}
	d.count(fresh)
	log.Info("demo: departure and resigned handovers", "departed", "frank", "reassigned", len(half), "unassigned", len(franks)-len(half))

	// 6. Groups: members join by invitation, link and QR code; some leave.
	groups := []struct{ id, owner, name string }{
		{"wr_demo_vip", "alice", "VIP club"}, {"wr_demo_expo", "bob", "Expo 2026 visitors"}, {"wr_demo_store", "carol", "Hangzhou store"},
	}
	scenes := []string{"invited", "link", "qrcode"}
	for gi, g := range groups {
		if err := d.send(ctx, "POST", "/groups", "group-"+g.id, map[string]any{"chat_id": g.id, "owner_id": g.owner, "name": g.name, "occurred_at": d.at(6, gi)}, nil); err != nil {
			return err
		}
		d.sum.Groups++
		if err := d.send(ctx, "POST", "/groups/"+g.id+"/members", "group-staff-"+g.id, map[string]any{
			"member_id": demoStaff[(gi+3)%7].id, "member_type": "staff", "join_scene": "invited", "inviter_id": g.owner, "occurred_at": d.at(6, gi),
		}, nil); err != nil {
			return err
		}
		for k := 0; k < 8; k++ {
			cid := customerID(gi*13 + k*3 + 1)
			body := map[string]any{"member_id": cid, "member_type": "customer", "join_scene": scenes[k%3], "nickname": "member " + cid[len(cid)-3:], "occurred_at": d.at(5-k%5, gi)}
			if scenes[k%3] == "invited" {
				body["inviter_id"] = g.owner
			}
			if err := d.send(ctx, "POST", "/groups/"+g.id+"/members", fmt.Sprintf("group-join-%s-%d", g.id, k), body, nil); err != nil {
				return err
			}
		}
		for k := 0; k < 2; k++ {
			cid := customerID(gi*13 + k*3 + 1)
			scene := []string{"left", "removed"}[k]
			if err := d.send(ctx, "POST", "/groups/"+g.id+"/members/"+cid+"/leave", fmt.Sprintf("group-leave-%s-%d", g.id, k),
				map[string]any{"quit_scene": scene, "occurred_at": d.at(1, k)}, nil); err != nil {
				return err
			}
		}
	}
	if err := d.send(ctx, "PUT", "/groups/wr_demo_vip/name", "group-rename", map[string]any{"name": "VIP club 2026", "occurred_at": d.at(1, 0)}, nil); err != nil {
		return err
	}
	if err := d.send(ctx, "PUT", "/groups/wr_demo_vip/notice", "group-notice", map[string]any{"notice": "Members-only offers every Friday.", "occurred_at": d.at(1, 0)}, nil); err != nil {
		return err
	}
	log.Info("demo: groups created", "groups", d.sum.Groups)

	// 7. Moments opt-outs (one opts back in) and consents.
	for _, i := range []int{6, 13, 20, 27, 34} {
		if err := d.send(ctx, "POST", "/customers/"+customerID(i)+"/moments/"+ownerOf(i)+"/opt-out", fmt.Sprintf("optout-%d", i),
			map[string]any{"source": "marketing_tool", "occurred_at": d.at(2, 3)}, nil); err != nil {
			return err
		}
		d.sum.MomentsOptOuts++
	}
	if err := d.send(ctx, "POST", "/customers/"+customerID(6)+"/moments/"+ownerOf(6)+"/opt-in", "optin-6",
		map[string]any{"source": "staff", "occurred_at": d.at(0, 5)}, nil); err != nil {
		return err
	}
	d.sum.MomentsOptOuts--
	for i := 0; i < 12; i++ {
		state := []string{"agree", "default_agree", "disagree"}[i%3]
		if err := d.send(ctx, "POST", "/customers/"+customerID(i)+"/consents", fmt.Sprintf("consent-%d", i),
			map[string]any{"purpose": []string{"chat_archive", "marketing"}[i%2], "state": state, "occurred_at": d.at(4, i)}, nil); err != nil {
			return err
		}
	}
	log.Info("demo: opt-outs and consents recorded", "opted_out", d.sum.MomentsOptOuts)

	// 8. Settle what is due now, as the server's settle job does every minute.
	var settled settleAnswer
	if err := d.send(ctx, "POST", "/handovers/settle", "settle-"+d.o.Now.Format("20060102T1504"), map[string]any{}, &settled); err != nil {
		return err
	}
	d.sum.HandoversSettled = len(settled.Outcomes)
	d.sum.HandoversPending = len(fresh.Outcomes)
	log.Info("demo: due handovers settled", "settled", d.sum.HandoversSettled)
	return nil
}

func churned(churn []struct {
	i  int
	by string
}, i int) bool {
	for _, c := range churn {
		if c.i == i {
			return true
		}
	}
	return false
}

// handoverBatch is the answer of POST /handovers.
type handoverBatch struct {
	Outcomes []struct {
		CustomerID string `json:"customer_id"`
		HandoverID string `json:"handover_id"`
		Status     string `json:"status"`
		Reason     string `json:"reason"`
	} `json:"outcomes"`
}

type settleAnswer struct {
	Outcomes []json.RawMessage `json:"outcomes"`
}

func (d *seeder) count(b handoverBatch) {
	for _, o := range b.Outcomes {
		if o.Status == "failed" {
			d.sum.HandoversFailed++
		}
	}
}
