package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/custody/custody/domain/customer"
	"github.com/custody/custody/domain/groupchat"
	"github.com/custody/custody/domain/outreach"
	"github.com/custody/custody/events"
)

// Outreach limits.
const (
	// MaxOutreachRecipients bounds the recipients of one plan, check or
	// recorded send (WeCom's add_msg_template takes at most 10,000
	// customers per call).
	MaxOutreachRecipients = 10_000
	// MaxOutreachText bounds a message's text, in characters.
	MaxOutreachText = 4000
	// outreachWorkers is how many recipients of one send are decided and
	// appended at once.
	outreachWorkers = 8
)

// Outreach names a message and its recipients: what PlanOutreach,
// CheckOutreach and RecordOutreach take.
type Outreach struct {
	Meta
	// MessageID is the marketing tool's id of the message: one stream
	// (events.OutreachMessageStream), one channel, one sending member.
	MessageID string
	// Channel is events.ChannelMassMessage, ChannelMoments (customers) or
	// ChannelGroupMassMessage (customer groups).
	Channel string
	// StaffID is the sending member.
	StaffID string
	// CustomerIDs (customer channels) or ChatIDs (group channel) are the
	// recipients; duplicates count once.
	CustomerIDs []string
	ChatIDs     []string
	// ReportedByWeCom (RecordOutreach only): WeCom reports that the send
	// happened (e.g. add_msg_template results). Every recipient is then
	// recorded, those that broke a rule flagged with it.
	ReportedByWeCom bool
}

// PlanOutreach is Outreach with the message's text.
type PlanOutreach struct {
	Outreach
	// Text is the message. Not personal data unless Personal is set: it
	// is then sealed under the sending member's key.
	Text     string
	Personal bool
}

// OutreachVerdict is the rules' answer for one recipient.
type OutreachVerdict struct {
	CustomerID string
	ChatID     string
	// Reasons are the rules that refuse (or, for a send WeCom reported,
	// that it broke): events.Outreach* reasons. Empty: allowed.
	Reasons []string
	// Allowances are the recipient's cap windows that are on, as they were
	// before this send (counted channels only).
	Allowances []outreach.Allowance
	// AlreadyReceived: the recipient has this message already.
	AlreadyReceived bool
}

// OutreachOutcome is what RecordOutreach recorded.
type OutreachOutcome struct {
	// Result holds the message stream's events: outreach.sent and
	// outreach.refused (none when nothing was new).
	Result
	// Reached are the customers (or ChatIDs the groups) that received the
	// message, now or by an earlier report of the same message; Refused
	// those refused with their reasons; Flagged those reached although a
	// rule refused them (WeCom's reports only).
	Reached      []string
	ReachedChats []string
	Refused      []events.OutreachRecipient
	Flagged      []events.OutreachRecipient
}

func (o Outreach) check() error {
	if err := firstError(
		requiredCode("message_id", o.MessageID),
		requiredCode("staff_id", o.StaffID),
	); err != nil {
		return err
	}
	if !outreach.ValidChannel(o.Channel) {
		return invalid("channel", "%q is not one of %v", o.Channel, outreach.Channels)
	}
	list, field, other, otherField := o.CustomerIDs, "customer_ids", o.ChatIDs, "chat_ids"
	if outreach.ToGroups(o.Channel) {
		list, field, other, otherField = o.ChatIDs, "chat_ids", o.CustomerIDs, "customer_ids"
	}
	if len(other) > 0 {
		return invalid(otherField, "channel %s sends to %s", o.Channel, field)
	}
	if len(list) == 0 {
		return invalid(field, "required")
	}
	if err := checkTexts(field, list, MaxOutreachRecipients, MaxCodeLen); err != nil {
		return err
	}
	for i, id := range list {
		if id == "" {
			return invalid(fmt.Sprintf("%s[%d]", field, i), "empty")
		}
	}
	return nil
}

func requiredCode(field, v string) error {
	if v == "" {
		return invalid(field, "required")
	}
	return checkText(field, v, MaxCodeLen)
}

// recipients are the command's recipients, first occurrence kept.
func (o Outreach) recipients() []string {
	list := o.CustomerIDs
	if outreach.ToGroups(o.Channel) {
		list = o.ChatIDs
	}
	seen := make(map[string]bool, len(list))
	out := make([]string, 0, len(list))
	for _, id := range list {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// PlanOutreach records outreach.planned on the message's stream and
// answers what the rules say of each recipient now. A plan reserves
// nothing: RecordOutreach decides again. A message is planned once,
// before it is sent (outreach.ErrAlreadyPlanned).
func (h *Handler) PlanOutreach(ctx context.Context, cmd PlanOutreach) (Result, []OutreachVerdict, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, nil, err
	}
	if err := firstError(cmd.check(), checkText("text", cmd.Text, MaxOutreachText)); err != nil {
		return Result{}, nil, err
	}
	p := events.OutreachPlanned{Channel: cmd.Channel, StaffID: cmd.StaffID, Personal: cmd.Personal}
	if outreach.ToGroups(cmd.Channel) {
		p.ChatIDs = cmd.recipients()
	} else {
		p.CustomerIDs = cmd.recipients()
	}
	if cmd.Personal {
		p.PII.Text = cmd.Text
	} else {
		p.Text = cmd.Text
	}
	res, err := execute(ctx, r, step[*outreach.Message]{
		stream: events.OutreachMessageStream(r.meta.CorpID, cmd.MessageID),
		load: func(hist []events.Recorded) (*outreach.Message, error) {
			return outreach.RehydrateMessage(cmd.MessageID, hist)
		},
		decide: func(m *outreach.Message) ([]events.Payload, error) { return m.Plan(p) },
	})
	if err != nil {
		return Result{}, nil, err
	}
	verdicts, err := r.outreachVerdicts(ctx, cmd.Outreach, true)
	return res, verdicts, err
}

// CheckOutreach answers what RecordOutreach would decide for each
// recipient now, recording nothing: the question a marketing tool asks
// before it sends.
func (h *Handler) CheckOutreach(ctx context.Context, cmd Outreach) ([]OutreachVerdict, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return nil, err
	}
	if err := cmd.check(); err != nil {
		return nil, err
	}
	return r.outreachVerdicts(ctx, cmd, true)
}

// RecordOutreach records a send of a message to its recipients at the
// command's business time (Meta.OccurredAt). Each recipient is decided on
// its own ledger (events.OutreachCustomerStream, OutreachGroupStream)
// against the corp's caps, its marketing consent, erasure and its relation
// with the sending member (or, for groups, the group's state and owner);
// the decision is appended with the ledger's version expected and decided
// again on a conflict, so however many tools record sends at once, no
// recipient ever goes over a cap. Refused recipients get nothing on their
// ledger. Then outreach.sent (the recipients newly reached) and
// outreach.refused (each refused recipient with its reasons) go on the
// message's stream.
//
// A recipient that has the message already counts as reached and gets
// nothing new, so a retried command — or WeCom reporting a send a tool
// recorded — records each delivery once. With ReportedByWeCom nobody is
// refused: the send happened, and what it broke is flagged.
//
// The ledger appends are not atomic with each other or with the message
// stream: a crash part way leaves the deliveries made so far recorded
// (they are facts; the caps count them), and carrying out the same
// command again completes the rest and the summary.
func (h *Handler) RecordOutreach(ctx context.Context, cmd Outreach) (OutreachOutcome, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return OutreachOutcome{}, err
	}
	if err := cmd.check(); err != nil {
		return OutreachOutcome{}, err
	}
	stream := events.OutreachMessageStream(r.meta.CorpID, cmd.MessageID)
	history, err := r.read(ctx, stream, 0)
	if err != nil {
		return OutreachOutcome{}, err
	}
	msg, err := outreach.RehydrateMessage(cmd.MessageID, history)
	if err != nil {
		return OutreachOutcome{}, &StreamError{Stream: stream, Err: err}
	}
	if prior := r.prior(history); len(prior) > 0 {
		return replayedOutreach(prior)
	}
	if field := msg.Mismatch(cmd.Channel, cmd.StaffID); field != "" {
		return OutreachOutcome{}, invalid(field, "the message was planned through another %s", field)
	}
	verdicts, err := r.outreachVerdicts(ctx, cmd, false)
	if err != nil {
		return OutreachOutcome{}, err
	}
	groups := outreach.ToGroups(cmd.Channel)
	sent := &events.OutreachSent{MessageID: cmd.MessageID, Channel: cmd.Channel, StaffID: cmd.StaffID, ReportedBy: reportedBy(cmd)}
	refused := &events.OutreachRefused{MessageID: cmd.MessageID, Channel: cmd.Channel, StaffID: cmd.StaffID}
	var out OutreachOutcome
	for _, v := range verdicts {
		id := v.CustomerID
		if groups {
			id = v.ChatID
		}
		rcpt := events.OutreachRecipient{CustomerID: v.CustomerID, ChatID: v.ChatID, Reasons: v.Reasons}
		switch {
		case len(v.Reasons) > 0 && !cmd.ReportedByWeCom && !v.AlreadyReceived:
			out.Refused = append(out.Refused, rcpt)
			refused.Refused = append(refused.Refused, rcpt)
			continue
		case groups:
			out.ReachedChats = append(out.ReachedChats, id)
		default:
			out.Reached = append(out.Reached, id)
		}
		if v.AlreadyReceived {
			continue
		}
		if groups {
			sent.ChatIDs = append(sent.ChatIDs, id)
		} else {
			sent.CustomerIDs = append(sent.CustomerIDs, id)
		}
		if len(v.Reasons) > 0 {
			out.Flagged = append(out.Flagged, rcpt)
			sent.Flagged = append(sent.Flagged, rcpt)
		}
	}
	var pays []events.Payload
	if len(sent.CustomerIDs)+len(sent.ChatIDs) > 0 {
		pays = append(pays, sent)
	}
	if len(refused.Refused) > 0 {
		pays = append(pays, refused)
	}
	res, err := execute(ctx, r, step[*outreach.Message]{
		stream: stream,
		load: func(hist []events.Recorded) (*outreach.Message, error) {
			return outreach.RehydrateMessage(cmd.MessageID, hist)
		},
		decide: func(*outreach.Message) ([]events.Payload, error) { return pays, nil },
	})
	out.Result = res
	return out, err
}

func reportedBy(cmd Outreach) string {
	if cmd.ReportedByWeCom {
		return events.ReportedByWeCom
	}
	return events.ReportedByCustody
}

// replayedOutreach is the outcome of a command carried out before, from
// the events it recorded on the message stream.
func replayedOutreach(prior []events.Recorded) (OutreachOutcome, error) {
	pays, err := decodeAll(prior)
	if err != nil {
		return OutreachOutcome{}, err
	}
	out := OutreachOutcome{Result: Result{Events: prior, Replayed: true}}
	for _, p := range pays {
		switch e := p.(type) {
		case *events.OutreachSent:
			out.Reached = append(out.Reached, e.CustomerIDs...)
			out.ReachedChats = append(out.ReachedChats, e.ChatIDs...)
			out.Flagged = append(out.Flagged, e.Flagged...)
		case *events.OutreachRefused:
			out.Refused = append(out.Refused, e.Refused...)
		}
	}
	return out, nil
}

// outreachVerdicts decides every recipient, outreachWorkers at a time,
// in the command's order. dry decides without recording. A departed
// sending member refuses every recipient (one read of the member's
// stream, or the handler's staff cache, per command).
func (r *run) outreachVerdicts(ctx context.Context, cmd Outreach, dry bool) ([]OutreachVerdict, error) {
	ids := cmd.recipients()
	st, err := r.staffStatus(ctx, cmd.StaffID)
	if err != nil {
		return nil, err
	}
	out := make([]OutreachVerdict, len(ids))
	errs := make([]error, len(ids))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(outreachWorkers, len(ids)) {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = r.outreachTo(ctx, cmd, ids[i], st.Departed, dry)
			}
		})
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, errors.Join(errs...)
}

// outreachTo decides one recipient and, unless dry, appends the decision
// to its ledger with the ledger's version expected, deciding again on a
// conflict.
func (r *run) outreachTo(ctx context.Context, cmd Outreach, id string, staffDeparted, dry bool) (OutreachVerdict, error) {
	s := outreach.Send{MessageID: cmd.MessageID, Channel: cmd.Channel, StaffID: cmd.StaffID, At: r.now, ReportedBy: reportedBy(cmd),
		StaffDeparted: staffDeparted}
	groups := outreach.ToGroups(cmd.Channel)
	ledgerStream, aggStream := events.OutreachCustomerStream(r.meta.CorpID, id), events.CustomerStream(r.meta.CorpID, id)
	v := OutreachVerdict{CustomerID: id}
	if groups {
		ledgerStream, aggStream = events.OutreachGroupStream(r.meta.CorpID, id), events.GroupChatStream(r.meta.CorpID, id)
		v = OutreachVerdict{ChatID: id}
	}
	for attempt := 0; ; attempt++ {
		lh, err := r.read(ctx, ledgerStream, 0)
		if err != nil {
			return v, err
		}
		l, err := outreach.RehydrateLedger(lh)
		if err != nil {
			return v, &StreamError{Stream: ledgerStream, Err: err}
		}
		ah, err := r.read(ctx, aggStream, 0)
		if err != nil {
			return v, err
		}
		var d outreach.Decision
		if groups {
			g, err := groupchat.Rehydrate(id, ah)
			if err != nil {
				return v, &StreamError{Stream: aggStream, Err: err}
			}
			d, err = outreach.DecideGroup(g, l, s, r.settings)
			if err != nil {
				return v, invalid("channel", "%v", err)
			}
		} else {
			c, err := customer.Rehydrate(id, ah)
			if err != nil {
				return v, &StreamError{Stream: aggStream, Err: err}
			}
			d, err = outreach.DecideCustomer(c, l, s, r.settings)
			if err != nil {
				return v, invalid("channel", "%v", err)
			}
		}
		v.Reasons = slices.Clip(d.Reasons)
		// A delivery this command recorded on an earlier attempt (a retry
		// after a crash) is this command's own: not "already received".
		v.AlreadyReceived = d.Already && !l.ReceivedBy(cmd.MessageID, r.meta.CommandID)
		if outreach.Counted(cmd.Channel) {
			v.Allowances = l.Allowances(r.settings, r.now)
		}
		if dry || len(d.Events) == 0 {
			return v, nil
		}
		_, err = r.append(ctx, ledgerStream, l.Version(), d.Events)
		if r.retry(err, attempt) {
			continue
		}
		return v, err
	}
}
