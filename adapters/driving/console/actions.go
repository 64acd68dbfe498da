package console

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/custody/custody/adapters/driving/httpapi"
	"github.com/custody/custody/commands"
	"github.com/custody/custody/events"
)

// commandID makes a form's command idempotent: the same form (form_id,
// rendered once) posted twice with the same content is one command, so a
// double click or a reload records nothing new and shows the first
// outcome again.
func (x *req) commandID(parts ...string) string {
	h := sha256.New()
	for _, p := range append([]string{"console", x.corp, x.sess.Nonce}, parts...) {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "console-" + hex.EncodeToString(h.Sum(nil)[:16])
}

func (x *req) meta(commandID string) commands.Meta {
	return commands.Meta{CorpID: x.corp, CommandID: commandID, Actor: x.who.Actor(), CorrelationID: commandID}
}

// outcomeItem is one line of an action's result.
type outcomeItem struct {
	ID, Label, Link, Text, Class string
}

type outcomeData struct {
	Heading  string
	Back     string
	Items    []outcomeItem
	Replayed bool
}

func (c *Console) resignedHandover(x *req) error {
	return c.handover(x, events.HandoverResigned, "departed")
}

func (c *Console) inServiceHandover(x *req) error {
	return c.handover(x, events.HandoverInService, "staff")
}

// handover requests handovers of the selected customers through the
// command handler the API uses, and shows each customer's outcome.
func (c *Console) handover(x *req, kind, section string) error {
	from, err := x.pathID("staff")
	if err != nil {
		return err
	}
	f, err := decodeHandoverForm(x.r.PostForm)
	if err != nil {
		return err
	}
	id := x.commandID(append([]string{"handover", kind, from, f.FormID, f.To, f.Message}, f.Customers...)...)
	b, err := c.opts.Commands.RequestHandover(x.ctx, commands.RequestHandover{
		Meta: x.meta(id), Kind: kind, FromStaffID: from, ToStaffID: f.To, CustomerIDs: f.Customers, Message: f.Message,
	})
	if err != nil {
		return err
	}
	w := x.words
	d := outcomeData{Heading: w.T(kind) + ": " + x.staffLabel(from) + " → " + x.staffLabel(f.To), Back: x.link(section, from)}
	names, err := c.db.customerNames(x.ctx, x.corp, f.Customers)
	if err != nil {
		// Recorded already: show the outcomes by id rather than fail.
		c.opts.Logger.Warn("console: customer names", "err", err)
	}
	for _, o := range b.Outcomes {
		n := names[o.CustomerID]
		it := outcomeItem{ID: o.CustomerID, Label: x.customerLabel(o.CustomerID, n.Name, n.Erased), Link: x.link("customers", o.CustomerID)}
		it.Text, it.Class = x.outcomeText(o, f.To)
		d.Replayed = d.Replayed || o.Replayed
		d.Items = append(d.Items, it)
	}
	status := http.StatusOK
	c.render(x.w, status, "outcomes", c.newView(x, section, w.T("outcomes"), d))
	return nil
}

// outcomeText says what became of one customer's handover, in words.
func (x *req) outcomeText(o commands.HandoverOutcome, to string) (text, class string) {
	w := x.words
	switch o.Status {
	case "pending":
		return w.T("outcome pending", w.Time(o.Deadline)), "ok"
	case "completed":
		return w.T("completed"), "ok"
	case "failed":
		if o.FailReason == events.FailTargetAtCapacity {
			return w.T("outcome capacity", x.staffLabel(to)), "bad"
		}
		return w.T("outcome failed", w.Reason(o.FailReason)), "bad"
	case commands.OutcomeRejected, commands.OutcomeSkipped:
		_, code := httpapi.ErrorCode(o.Err)
		return w.T("outcome rejected", w.Reason(code)), "warn"
	}
	return w.T(o.Status), ""
}

// cancelHandover withdraws a pending handover and goes back to the
// customer's page.
func (c *Console) cancelHandover(x *req) error {
	cust, err := x.pathID("customer")
	if err != nil {
		return err
	}
	h, err := x.pathID("handover")
	if err != nil {
		return err
	}
	if err := decodeCancelForm(x.r.PostForm); err != nil {
		return err
	}
	if _, err := c.opts.Commands.CancelHandover(x.ctx, commands.CancelHandover{
		Meta: x.meta(x.commandID("cancel", cust, h)), CustomerID: cust, HandoverID: h,
	}); err != nil {
		return err
	}
	http.Redirect(x.w, x.r, x.link("customers", cust)+"?done=cancelled", http.StatusSeeOther)
	return nil
}

// transferGroups moves the selected groups of departed owners to a member
// (resigned group transfer), one command per group, and shows each
// group's outcome.
func (c *Console) transferGroups(x *req) error {
	f, err := decodeGroupTransferForm(x.r.PostForm)
	if err != nil {
		return err
	}
	w := x.words
	d := outcomeData{Heading: w.T("transfer groups") + " → " + x.staffLabel(f.To), Back: x.link("groups")}
	for _, chat := range f.Chats {
		res, err := c.opts.Commands.TransferGroupChat(x.ctx, commands.TransferGroupChat{
			Meta: x.meta(x.commandID("group", chat, f.FormID, f.To)), ChatID: chat, ToStaffID: f.To, Reason: events.OwnerChangeResigned,
		})
		it := outcomeItem{ID: chat, Label: chat, Link: x.link("groups")}
		switch {
		case err == nil:
			it.Text, it.Class = w.T("transferred"), "ok"
			d.Replayed = d.Replayed || res.Replayed
		default:
			st, code := httpapi.ErrorCode(err)
			if st >= 500 && code != "wecom_unavailable" {
				return err
			}
			it.Text, it.Class = w.T("outcome rejected", w.Reason(code)), "warn"
		}
		d.Items = append(d.Items, it)
	}
	c.render(x.w, http.StatusOK, "outcomes", c.newView(x, "groups", w.T("outcomes"), d))
	return nil
}
