// Package massreport records the mass messages (客户群发, 客户群群发)
// WeCom reports as sent: add_msg_template creates a task, a member
// confirms it in the client, and get_groupmsg_list_v2, get_groupmsg_task
// and get_groupmsg_send_result tell who received what. Each member's
// recipients reached (status 1) become one RecordOutreach reported by
// WeCom: every recipient is recorded (outreach.delivered on its ledger,
// outreach.sent on the message's stream), and one a rule would have
// refused — over a cap, consent withdrawn, no relation — is flagged with
// the rules it broke. custody's message id is WeCom's msgid, so a send a
// marketing tool recorded under that msgid before the member confirmed is
// not counted twice.
//
// Polling is idempotent: the command id of a member's batch is derived
// from the msgid, the member, the send time and the recipients, so the
// same results polled again record nothing, and a poll interrupted part
// way is completed by the next one.
package massreport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/custody/custody/adapters/driving/wecom/api"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
)

// WeCom is the part of the API client the reporter uses (*api.Client).
type WeCom interface {
	MassMessages(ctx context.Context, chatType string, from, to time.Time, each func([]api.MassMessage) error) error
	MassMessageTasks(ctx context.Context, msgID string, each func([]api.MassTask) error) error
	MassMessageSends(ctx context.Context, msgID, userID string, each func([]api.MassSend) error) error
}

var _ WeCom = (*api.Client)(nil)

// Reporter records one corp's mass-message results.
type Reporter struct {
	// WeCom reads the results; Commands records them for CorpID (custody's
	// corp id).
	WeCom    WeCom
	Commands *commands.Handler
	CorpID   string
	// Now is the clock for business times (default time.Now): a send time
	// custody would not accept (before commands.MinOccurredAt, after now)
	// is recorded at the handler's clock.
	Now    func() time.Time
	Logger *slog.Logger
}

// Report counts what one poll saw and recorded.
type Report struct {
	// Messages are the mass messages created in the range; Batches the
	// members' batches of reached recipients recorded (or found recorded:
	// Replayed).
	Messages, Batches, Replayed int
	// Reached counts recipients in the batches; New those recorded now
	// (not by an earlier poll or a tool); Flagged those a rule refused.
	Reached, New, Flagged int
}

// Report polls the mass messages created from..to (in ranges of at most
// api.MaxMassMessageRange) and records every recipient WeCom reports as
// reached. A message or member that fails is skipped and its error
// returned joined with the others once the rest is done; polling again
// completes it.
func (r Reporter) Report(ctx context.Context, from, to time.Time) (Report, error) {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	var rep Report
	var errs []error
	for _, chatType := range []string{api.ChatTypeSingle, api.ChatTypeGroup} {
		for start := from; start.Before(to) || start.Equal(to); start = start.Add(api.MaxMassMessageRange + time.Second) {
			end := start.Add(api.MaxMassMessageRange)
			if end.After(to) {
				end = to
			}
			var msgs []api.MassMessage
			if err := r.WeCom.MassMessages(ctx, chatType, start, end, func(p []api.MassMessage) error {
				msgs = append(msgs, p...)
				return nil
			}); err != nil {
				return rep, fmt.Errorf("massreport: %w", err)
			}
			for _, m := range msgs {
				rep.Messages++
				if err := r.message(ctx, chatType, m.MsgID, &rep); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return rep, errors.Join(errs...)
}

// message records each member's reached recipients of one message.
func (r Reporter) message(ctx context.Context, chatType, msgID string, rep *Report) error {
	var sent []string
	if err := r.WeCom.MassMessageTasks(ctx, msgID, func(p []api.MassTask) error {
		for _, t := range p {
			if t.Status == api.TaskSent {
				sent = append(sent, t.UserID)
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("massreport: message %s: %w", msgID, err)
	}
	var errs []error
	for _, userID := range sent {
		// Recipients reached, by send time (one batch per time).
		byTime := map[int64][]string{}
		if err := r.WeCom.MassMessageSends(ctx, msgID, userID, func(p []api.MassSend) error {
			for _, s := range p {
				if s.Status != api.SendSent {
					continue
				}
				id := s.ExternalUserID
				if chatType == api.ChatTypeGroup {
					id = s.ChatID
				}
				if id != "" {
					byTime[s.SendTime.Unix()] = append(byTime[s.SendTime.Unix()], id)
				}
			}
			return nil
		}); err != nil {
			errs = append(errs, fmt.Errorf("massreport: message %s, member %s: %w", msgID, userID, err))
			continue
		}
		times := make([]int64, 0, len(byTime))
		for at := range byTime {
			times = append(times, at)
		}
		slices.Sort(times)
		for _, at := range times {
			ids := byTime[at]
			slices.Sort(ids)
			ids = slices.Compact(ids)
			for len(ids) > 0 {
				chunk := ids[:min(len(ids), commands.MaxOutreachRecipients)]
				ids = ids[len(chunk):]
				if err := r.record(ctx, chatType, msgID, userID, time.Unix(at, 0), chunk, rep); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// record records one batch: RecordOutreach reported by WeCom, with a
// command id derived from the batch.
func (r Reporter) record(ctx context.Context, chatType, msgID, userID string, at time.Time, ids []string, rep *Report) error {
	h := sha256.New()
	for _, s := range append([]string{msgID, userID, fmt.Sprint(at.Unix())}, ids...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	sum := hex.EncodeToString(h.Sum(nil))[:32]
	cmd := commands.Outreach{
		Meta: commands.Meta{CorpID: r.CorpID, Actor: "wecom", CommandID: "wecom-massmsg-" + sum,
			CorrelationID: "wecom-massmsg-" + msgID, OccurredAt: r.when(at)},
		MessageID: msgID, Channel: events.ChannelMassMessage, StaffID: userID, ReportedByWeCom: true,
	}
	if chatType == api.ChatTypeGroup {
		cmd.Channel, cmd.ChatIDs = events.ChannelGroupMassMessage, ids
	} else {
		cmd.CustomerIDs = ids
	}
	out, err := r.Commands.RecordOutreach(ctx, cmd)
	var fe *commands.FieldError
	if errors.As(err, &fe) && (fe.Field == "staff_id" || fe.Field == "channel") {
		// A tool planned this msgid through another member or channel
		// (WeCom sent it through every member following a customer): the
		// member's part is its own message, msgid-member.
		cmd.MessageID = msgID + "-" + userID
		out, err = r.Commands.RecordOutreach(ctx, cmd)
	}
	if err != nil {
		return fmt.Errorf("massreport: message %s, member %s: %w", msgID, userID, err)
	}
	rep.Batches++
	if out.Replayed {
		rep.Replayed++
	}
	rep.Reached += len(out.Reached) + len(out.ReachedChats)
	rep.Flagged += len(out.Flagged)
	for _, e := range out.Events {
		if e.Type == "outreach.sent" && !out.Replayed {
			if p, err := events.DecodeRecorded(e); err == nil {
				s := p.(*events.OutreachSent)
				rep.New += len(s.CustomerIDs) + len(s.ChatIDs)
			}
		}
	}
	if len(out.Flagged) > 0 {
		r.Logger.Info("wecom mass message sent against custody's rules", "corp", r.CorpID, "msgid", cmd.MessageID,
			"staff", userID, "flagged", len(out.Flagged))
	}
	return nil
}

// when is at if custody accepts it as a business time, else zero (the
// handler's clock).
func (r Reporter) when(at time.Time) time.Time {
	if at.Before(commands.MinOccurredAt) || at.After(r.Now()) {
		return time.Time{}
	}
	return at
}
