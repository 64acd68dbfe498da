// Package standin is a PROTOCOL-LEVEL STAND-IN for WeCom (企业微信) as seen
// by custody's callback receiver: the customer-contact state of one corp,
// kept in memory, the callbacks WeCom would send when that state changes,
// and a deliverer that POSTs them, encrypted and signed with the corp's
// Token and EncodingAESKey, to custody's /wecom/callback/{corp} URL with
// WeCom's habits.
//
// It is NOT WeCom. It models only what custody consumes, with WeCom's
// documented and observed behaviour (the team's WECOM.md notes):
//
//   - Corp holds staff members, customers, follow relations (remark,
//     description, add_way, state, createtime, tags; deleted by the staff
//     member, by the customer or by a handover), customer groups (owner,
//     status, members with type, join_scene, invitor, join_time, and a
//     member_version that changes on every membership change), corp tags,
//     and in-service handovers. Actions change that state as WeCom would
//     and return the callback WeCom would send, payload fields as WeCom
//     documents them (change_external_contact, change_external_chat,
//     change_external_tag). Corp.API performs changes the way an app does
//     through WeCom's API: the state changes and, as in WeCom, no callback
//     is produced.
//   - Emitter delivers callbacks: a 5-second answer timeout, three
//     deliveries in all after a timeout or any status other than 200, each
//     re-sealed with a new timestamp, nonce and random prefix; and, with
//     seeded probabilities, duplicate deliveries (concurrent or not, re-sealed
//     or byte-identical), callbacks lost before they are sent, and payloads
//     in the undocumented dialect real deliveries use (no CDATA, State
//     missing on adds or present on del_follow_user, a half add arriving as
//     a full one). Emitter.VerifyURL performs the URL check (GET, echostr).
//   - Day plays a seeded, realistic day of a corp; Simulate delivers it.
//   - APIServer serves WeCom's HTTP API for custody's details, handovers
//     and reconciliation (gettoken, batch/get_by_user, get,
//     groupchat/list and get, get_corp_tag_list, transfer_customer,
//     transfer_result, …) from the corps' state, in WeCom's JSON shapes,
//     with faults for tests: errcodes on demand, per-minute rate limits,
//     early token invalidation, latency.
//
// Not modelled: third-party suites and their dialect, the JSON envelope,
// address-book callbacks (change_contact) for staff who join or depart,
// the API's hourly and per-IP limits, mass messages, chat archive and the
// limits of customers per staff member. Tests that pass against it prove custody speaks WeCom's
// callback protocol and survives its delivery habits; they say nothing
// about WeCom's timing or data beyond that.
//
// Every type here is safe for concurrent use unless its doc says otherwise.
// Nothing here logs; names of simulated people never leave the process
// except inside the encrypted callbacks.
package standin

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/callback"
)

// Sentinel errors of the actions. Every error they return wraps one of
// them; test with errors.Is.
var (
	// ErrInvalid: an argument is empty or out of range.
	ErrInvalid = errors.New("standin: invalid argument")
	// ErrNotFound: an unknown (or deleted) staff member, customer,
	// relation, group, member or tag.
	ErrNotFound = errors.New("standin: not found")
	// ErrExists: the thing to create already exists (an active relation,
	// a group id, a member already in the group).
	ErrExists = errors.New("standin: already exists")
	// ErrState: WeCom would refuse the action in the current state (a
	// departed staff member adding a customer, the owner leaving their
	// group, a handover that is not waiting).
	ErrState = errors.New("standin: not allowed in this state")
)

// Options configure a Corp.
type Options struct {
	// CorpID is the WeCom corpid (ToUserName of every callback and the
	// receive id of every sealed message). Required.
	CorpID string
	// Token and EncodingAESKey are the callback URL's signing token and
	// 43-character key, as configured in WeCom's admin console. Required.
	Token          string
	EncodingAESKey string
	// AgentID, when set, is written into the envelopes (WeCom omits it
	// for some callbacks).
	AgentID string
	// Now is the clock of the simulated corp: CreateTime of callbacks,
	// createtime of relations, join_time of members. Default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports every problem with o, joined; each wraps ErrInvalid.
// Key material never appears in the messages.
func (o Options) Validate() error {
	var errs []error
	if o.CorpID == "" {
		errs = append(errs, fmt.Errorf("empty corpid: %w", ErrInvalid))
	}
	if err := o.cryptoOptions().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalid, err))
	}
	return errors.Join(errs...)
}

func (o Options) cryptoOptions() callback.Options {
	return callback.Options{
		Keys:       []callback.Key{{Token: o.Token, EncodingAESKey: o.EncodingAESKey}},
		ReceiveIDs: []string{o.CorpID},
		AgentID:    o.AgentID,
	}
}

// Corp is the WeCom-side state of one corp. All methods are safe for
// concurrent use; each action is atomic and returns the callback of the
// change it made (callbacks are values: delivering them is the Emitter's
// business, and WeCom promises no ordering between them either).
type Corp struct {
	corpID string
	now    func() time.Time
	crypto *callback.Crypto

	mu        sync.Mutex
	seq       uint64 // feeds generated ids, welcome codes and member versions
	staff     map[string]*Staff
	customers map[string]*Customer
	follows   map[pair]*Follow
	groups    map[string]*Group
	tagGroups map[string]*TagGroup
	tagOwner  map[string]string // tag id → tag group id
	handovers map[pair]*Handover
	mass      *massMessages // add_msg_template tasks (massmsg.go), made on first use
}

// pair identifies a follow relation or a handover: a staff member (the
// old owner for handovers) and a customer.
type pair struct{ userID, externalUserID string }

// New builds an empty corp, or returns Validate's joined errors.
func New(o Options) (*Corp, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	crypto, err := callback.New(o.cryptoOptions())
	if err != nil {
		return nil, fmt.Errorf("standin: %w", err)
	}
	return &Corp{
		corpID:    o.CorpID,
		now:       o.Now,
		crypto:    crypto,
		staff:     map[string]*Staff{},
		customers: map[string]*Customer{},
		follows:   map[pair]*Follow{},
		groups:    map[string]*Group{},
		tagGroups: map[string]*TagGroup{},
		tagOwner:  map[string]string{},
		handovers: map[pair]*Handover{},
	}, nil
}

// CorpID is the corp's WeCom corpid.
func (c *Corp) CorpID() string { return c.corpID }

// Crypto seals (and opens) this corp's callbacks; an Emitter needs it.
func (c *Corp) Crypto() *callback.Crypto { return c.crypto }

// callback starts a callback stamped with the corp and its clock. Called
// with c.mu held.
func (c *Corp) callback(event, changeType string) Callback {
	return Callback{ToUserName: c.corpID, CreateTime: c.now(), Event: event, ChangeType: changeType}
}
