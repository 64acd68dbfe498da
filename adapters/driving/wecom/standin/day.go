package standin

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Limits and defaults of Day.
const (
	DefaultDayEvents = 60
	MaxDayEvents     = 10000
)

// DayOptions configure Day.
type DayOptions struct {
	// Corp names the corp and its keys; Now is ignored (the day has its
	// own clock).
	Corp Options
	// Seed makes the day: the same seed, Events, Date and Corp give the
	// same state and the same callbacks.
	Seed uint64
	// Events is the number of callbacks to produce, 1..MaxDayEvents;
	// default DefaultDayEvents. The last step may add one more (a
	// handover sends two).
	Events int
	// Date is the day played, taken in Asia/Shanghai; default 2026-03-02.
	Date time.Time
}

func (o *DayOptions) setDefaults() {
	if o.Events == 0 {
		o.Events = DefaultDayEvents
	}
	if o.Date.IsZero() {
		o.Date = time.Date(2026, 3, 2, 12, 0, 0, 0, Shanghai)
	}
}

// Validate reports every problem with o (after defaults), joined; each
// wraps ErrInvalid.
func (o DayOptions) Validate() error {
	var errs []error
	if o.Events < 1 || o.Events > MaxDayEvents {
		errs = append(errs, fmt.Errorf("events %d not in 1..%d: %w", o.Events, MaxDayEvents, ErrInvalid))
	}
	return errors.Join(append(errs, o.Corp.Validate())...)
}

// Shanghai is Asia/Shanghai (UTC+8 all year; the fixed zone stands in
// when the system has no time zone database).
var Shanghai = func() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*3600)
}()

// Staff of the simulated corp. One userid looks numeric, as real ones can.
var dayStaff = []Staff{
	{UserID: "zhangwei", Name: "张伟"},
	{UserID: "lina", Name: "李娜"},
	{UserID: "wangfang", Name: "王芳"},
	{UserID: "10086", Name: "刘洋"},
	{UserID: "chenjing", Name: "陈静"},
}

var (
	dayChannels = []string{"expo2026", "wechat-ad", "douyin-live", "store-qr", "official-site", ""}
	daySurnames = []rune("王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹")
	dayGiven    = []string{"静", "磊", "敏", "勇", "杰", "霞", "强", "丽", "超", "琳", "军", "芳", "平", "峰", "娟", "斌", "欣怡", "子轩", "雨桐", "浩然"}
	dayRemarks  = []string{"展会认识", "老客户介绍", "想了解年卡", "已报价", "下周回访", "门店自提", "VIP", "价格敏感"}
	dayGroups   = []string{"春季新品交流群", "会员福利群", "上海门店客户群", "售后服务群", "团购接龙群"}
	dayNotices  = []string{"本周六门店活动，欢迎到店", "群内禁止广告", "新品下周一上市", "售后请私聊客服"}
	dayNewTags  = []string{"复购", "高意向", "已流失", "待跟进", "团购", "直播"}
)

// Day plays a seeded, realistic day of a corp from 08:30 to 22:30 in
// Asia/Shanghai: five staff members (张伟, 李娜, …); a tag group created in
// the morning; customers adding staff through channel codes (State
// expo2026, wechat-ad, …), some through auto-accept codes confirmed
// later; remarks and tags edited in the client and through the API (no
// callback); customers deleting staff (churn) and staff deleting
// customers; customer groups created, joined by QR code and by
// invitation, left and cleaned up, renamed, with notices and owner
// changes; tag changes; handovers that complete or fail. CreateTimes rise
// through the day. It returns the corp as the day left it and the
// callbacks in the order they happened. Deterministic for the same options.
func Day(o DayOptions) (*Corp, []Callback, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	y, m, d := o.Date.In(Shanghai).Date()
	s := &script{
		rnd:   rand.New(rand.NewPCG(o.Seed, 0x5eed)),
		start: time.Date(y, m, d, 8, 30, 0, 0, Shanghai),
		want:  o.Events,
	}
	s.span = 14 * time.Hour
	s.now = s.start.Add(-30 * time.Minute)
	o.Corp.Now = func() time.Time { return s.now }
	c, err := New(o.Corp)
	if err != nil {
		return nil, nil, err
	}
	s.c = c
	if err := s.run(); err != nil {
		return nil, nil, fmt.Errorf("standin: day: %w", err)
	}
	return c, s.cbs, nil
}

// script is the state of one Day: what it has done, for picking what to
// do next without scanning the corp.
type script struct {
	c          *Corp
	rnd        *rand.Rand
	start, now time.Time
	span       time.Duration
	want       int

	cbs       []Callback
	staff     []string
	relations []pair // active, half ones included
	halves    []pair
	customers []string
	groups    []string // live
	tagGroups []string
	tags      []string // live tags
	waiting   []pair   // handovers: old owner, customer
	done      map[string]int
}

type step struct {
	name   string
	weight float64
	// must: the day should show it; its weight grows in the second half
	// of the day while it has not happened.
	must bool
	do   func() error
}

func (s *script) run() error {
	s.done = map[string]int{}
	for _, m := range dayStaff {
		if err := s.c.AddStaff(m.UserID, m.Name); err != nil {
			return err
		}
		s.staff = append(s.staff, m.UserID)
	}
	s.tick()
	g, cb, err := s.c.CreateTagGroup("客户等级", 10, "重要客户", "普通客户", "潜在客户")
	if err != nil {
		return err
	}
	s.emit(cb)
	s.tagGroups = append(s.tagGroups, g.ID)
	for _, t := range g.Tags {
		s.tags = append(s.tags, t.ID)
	}
	steps := s.steps()
	for len(s.cbs) < s.want {
		s.tick()
		weights := make([]float64, len(steps))
		var total float64
		for i, st := range steps {
			w := st.weight
			if st.must && s.done[st.name] == 0 && len(s.cbs) >= s.want/2 {
				w *= 50
			}
			weights[i], total = w, total+w
		}
		x := s.rnd.Float64() * total
		i := 0
		for ; i < len(steps)-1 && x >= weights[i]; i++ {
			x -= weights[i]
		}
		if weights[i] == 0 {
			continue
		}
		err := steps[i].do()
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", steps[i].name, err)
		}
		s.done[steps[i].name]++
	}
	return nil
}

// errSkip: the step picked has nothing to act on now.
var errSkip = errors.New("skip")

// tick moves the clock: callback k of the day happens in the k-th slice
// of the day, at a random point of it, never before the previous one.
func (s *script) tick() {
	slot := s.span / time.Duration(s.want+1)
	t := s.start.Add(slot*time.Duration(len(s.cbs)) + time.Duration(s.rnd.Int64N(int64(slot)+1)))
	if t.After(s.now) {
		s.now = t.Truncate(time.Second)
	}
}

func (s *script) emit(cbs ...Callback) { s.cbs = append(s.cbs, cbs...) }

func (s *script) pick(n int) int { return s.rnd.IntN(n) }

func (s *script) id(prefix string) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte(prefix)
	for len(b) < 32 {
		b = append(b, alnum[s.rnd.IntN(len(alnum))])
	}
	return string(b)
}

func (s *script) newCustomer() Customer {
	name := string(daySurnames[s.pick(len(daySurnames))]) + dayGiven[s.pick(len(dayGiven))]
	c := Customer{ExternalUserID: s.id("wm"), Name: name}
	s.customers = append(s.customers, c.ExternalUserID)
	return c
}

func (s *script) following(userID, ext string) bool {
	return slices.Contains(s.relations, pair{userID, ext})
}

func (s *script) dropRelation(p pair) {
	s.relations = slices.DeleteFunc(s.relations, func(q pair) bool { return q == p })
	s.halves = slices.DeleteFunc(s.halves, func(q pair) bool { return q == p })
}

// fullRelation picks an active, confirmed relation.
func (s *script) fullRelation() (pair, error) {
	var full []pair
	for _, p := range s.relations {
		if !slices.Contains(s.halves, p) && !slices.ContainsFunc(s.waiting, func(w pair) bool { return w == p }) {
			full = append(full, p)
		}
	}
	if len(full) == 0 {
		return pair{}, errSkip
	}
	return full[s.pick(len(full))], nil
}

func (s *script) members(chatID string, typ MemberType) (owner string, ids []string) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	g := s.c.groups[chatID]
	for _, m := range g.Members {
		if m.Type == typ && m.UserID != g.Owner {
			ids = append(ids, m.UserID)
		}
	}
	return g.Owner, ids
}

func (s *script) steps() []step {
	return []step{
		{name: "add", weight: 30, must: true, do: s.add},
		{name: "add-another", weight: 4, do: s.addAnother},
		{name: "confirm-half", weight: 6, do: s.confirmHalf},
		{name: "edit", weight: 8, must: true, do: func() error { return s.edit(false) }},
		{name: "edit-api", weight: 3, do: func() error { return s.edit(true) }},
		{name: "del-follow-user", weight: 6, must: true, do: s.delFollowUser},
		{name: "del-external-contact", weight: 3, must: true, do: s.delExternalContact},
		{name: "group-create", weight: 3, must: true, do: s.createGroup},
		{name: "group-join-qr", weight: 8, must: true, do: func() error { return s.join(JoinQRCode) }},
		{name: "group-join-invited", weight: 3, do: func() error { return s.join(JoinInvited) }},
		{name: "group-leave", weight: 4, must: true, do: func() error { return s.leave(false) }},
		{name: "group-remove", weight: 1.5, do: func() error { return s.leave(true) }},
		{name: "group-rename", weight: 1.5, must: true, do: s.rename},
		{name: "group-notice", weight: 1.5, do: s.notice},
		{name: "group-owner", weight: 1, must: true, do: s.changeOwner},
		{name: "group-dismiss", weight: 0.3, do: s.dismiss},
		{name: "tag-create", weight: 1, must: true, do: s.createTag},
		{name: "tag-update", weight: 0.7, do: s.updateTag},
		{name: "tag-delete", weight: 0.4, do: s.deleteTag},
		{name: "tag-shuffle", weight: 0.4, do: s.shuffleTags},
		{name: "handover-start", weight: 1.5, must: true, do: s.startHandover},
		{name: "handover-takeover", weight: 2, do: s.takeOver},
		{name: "handover-fail", weight: 0.7, do: s.failTransfer},
	}
}

func (s *script) add() error {
	userID := s.staff[s.pick(len(s.staff))]
	state := dayChannels[s.pick(len(dayChannels))]
	a := Add{State: state, AddWay: 1}
	if state == "" {
		a.AddWay = 2 + s.pick(2) // phone search or business card
	}
	cu := s.newCustomer()
	half := state != "" && s.rnd.Float64() < 0.15
	var cb Callback
	var err error
	if half {
		cb, err = s.c.AddHalfExternalContact(userID, cu, a)
	} else {
		cb, err = s.c.AddExternalContact(userID, cu, a)
	}
	if err != nil {
		return err
	}
	p := pair{userID, cu.ExternalUserID}
	s.relations = append(s.relations, p)
	if half {
		s.halves = append(s.halves, p)
	}
	s.emit(cb)
	return nil
}

func (s *script) addAnother() error {
	if len(s.customers) == 0 {
		return errSkip
	}
	ext := s.customers[s.pick(len(s.customers))]
	userID := s.staff[s.pick(len(s.staff))]
	if s.following(userID, ext) {
		return errSkip
	}
	cb, err := s.c.AddExternalContact(userID, Customer{ExternalUserID: ext}, Add{State: "", AddWay: 4})
	if err != nil {
		return err
	}
	s.relations = append(s.relations, pair{userID, ext})
	s.emit(cb)
	return nil
}

func (s *script) confirmHalf() error {
	if len(s.halves) == 0 {
		return errSkip
	}
	p := s.halves[s.pick(len(s.halves))]
	cb, err := s.c.AddExternalContact(p.userID, Customer{ExternalUserID: p.externalUserID}, Add{})
	if err != nil {
		return err
	}
	s.halves = slices.DeleteFunc(s.halves, func(q pair) bool { return q == p })
	s.emit(cb)
	return nil
}

func (s *script) edit(api bool) error {
	p, err := s.fullRelation()
	if err != nil {
		return err
	}
	remark := dayRemarks[s.pick(len(dayRemarks))]
	e := Edit{Remark: &remark}
	if len(s.tags) > 0 && s.rnd.Float64() < 0.6 {
		e.AddTags = []string{s.tags[s.pick(len(s.tags))]}
	}
	if api {
		return s.c.API().EditExternalContact(p.userID, p.externalUserID, e)
	}
	cb, err := s.c.EditExternalContact(p.userID, p.externalUserID, e)
	if err != nil {
		return err
	}
	s.emit(cb)
	return nil
}

func (s *script) delFollowUser() error {
	p, err := s.fullRelation()
	if err != nil {
		return err
	}
	cb, err := s.c.DelFollowUser(p.userID, p.externalUserID)
	if err != nil {
		return err
	}
	s.dropRelation(p)
	s.emit(cb)
	return nil
}

func (s *script) delExternalContact() error {
	p, err := s.fullRelation()
	if err != nil {
		return err
	}
	cb, err := s.c.DelExternalContact(p.userID, p.externalUserID)
	if err != nil {
		return err
	}
	s.dropRelation(p)
	s.emit(cb)
	return nil
}

func (s *script) createGroup() error {
	if len(s.groups) >= 4 {
		return errSkip
	}
	owner := s.staff[s.pick(len(s.staff))]
	g := NewGroup{ChatID: s.id("wr"), Name: dayGroups[s.pick(len(dayGroups))], Owner: owner}
	if s.rnd.Float64() < 0.6 {
		other := s.staff[s.pick(len(s.staff))]
		if other != owner {
			g.Members = append(g.Members, Join{ID: other, Invitor: owner})
		}
	}
	for _, p := range s.relations {
		if p.userID == owner && len(g.Members) < 4 && s.rnd.Float64() < 0.5 {
			g.Members = append(g.Members, Join{ID: p.externalUserID, Customer: true, Invitor: owner})
		}
	}
	cb, err := s.c.CreateGroup(g)
	if err != nil {
		return err
	}
	s.groups = append(s.groups, g.ChatID)
	s.emit(cb)
	return nil
}

func (s *script) group() (string, error) {
	if len(s.groups) == 0 {
		return "", errSkip
	}
	return s.groups[s.pick(len(s.groups))], nil
}

func (s *script) join(scene JoinScene) error {
	chatID, err := s.group()
	if err != nil {
		return err
	}
	owner, _ := s.members(chatID, MemberCustomer)
	var joins []Join
	for n := 1 + s.pick(3); len(joins) < n; {
		var ext string
		if len(s.customers) > 0 && s.rnd.Float64() < 0.4 {
			ext = s.customers[s.pick(len(s.customers))]
		} else {
			ext = s.newCustomer().ExternalUserID
		}
		if s.isMember(chatID, ext) || slices.ContainsFunc(joins, func(j Join) bool { return j.ID == ext }) {
			continue
		}
		j := Join{ID: ext, Customer: true, Scene: scene}
		if scene != JoinQRCode {
			j.Invitor = owner
		}
		joins = append(joins, j)
	}
	cb, err := s.c.JoinGroup(chatID, joins...)
	if err != nil {
		return err
	}
	s.emit(cb)
	return nil
}

func (s *script) isMember(chatID, id string) bool {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	_, in := s.c.groups[chatID].Member(id)
	return in
}

func (s *script) leave(removed bool) error {
	chatID, err := s.group()
	if err != nil {
		return err
	}
	_, customers := s.members(chatID, MemberCustomer)
	if len(customers) == 0 {
		return errSkip
	}
	cb, err := s.c.LeaveGroup(chatID, removed, customers[s.pick(len(customers))])
	if err != nil {
		return err
	}
	s.emit(cb)
	return nil
}

func (s *script) rename() error {
	chatID, err := s.group()
	if err != nil {
		return err
	}
	cb, err := s.c.RenameGroup(chatID, dayGroups[s.pick(len(dayGroups))]+"（"+s.now.Format("1月2日")+"）")
	if err != nil {
		return err
	}
	s.emit(cb)
	return nil
}

func (s *script) notice() error {
	chatID, err := s.group()
	if err != nil {
		return err
	}
	cb, err := s.c.ChangeGroupNotice(chatID, dayNotices[s.pick(len(dayNotices))])
	if err != nil {
		return err
	}
	s.emit(cb)
	return nil
}

func (s *script) changeOwner() error {
	chatID, err := s.group()
	if err != nil {
		return err
	}
	_, staff := s.members(chatID, MemberStaff)
	if len(staff) == 0 {
		// Invite a colleague first, as an owner about to hand over would.
		owner, _ := s.members(chatID, MemberStaff)
		for _, id := range s.staff {
			if id != owner {
				cb, err := s.c.JoinGroup(chatID, Join{ID: id, Invitor: owner})
				if err != nil {
					return err
				}
				s.emit(cb)
				return errSkip // the owner change itself is still to come

			}
		}
		return errSkip
	}
	cb, err := s.c.ChangeGroupOwner(chatID, staff[s.pick(len(staff))])
	if err != nil {
		return err
	}
	s.emit(cb)
	return nil
}

func (s *script) dismiss() error {
	if len(s.groups) < 2 {
		return errSkip
	}
	i := s.pick(len(s.groups))
	cb, err := s.c.DismissGroup(s.groups[i])
	if err != nil {
		return err
	}
	s.groups = slices.Delete(s.groups, i, i+1)
	s.emit(cb)
	return nil
}

func (s *script) createTag() error {
	if len(s.tagGroups) == 0 {
		return errSkip
	}
	name := dayNewTags[s.pick(len(dayNewTags))]
	t, cb, err := s.c.CreateTag(s.tagGroups[s.pick(len(s.tagGroups))], name, s.pick(100))
	if errors.Is(err, ErrExists) {
		return errSkip
	}
	if err != nil {
		return err
	}
	s.tags = append(s.tags, t.ID)
	s.emit(cb)
	return nil
}

func (s *script) updateTag() error {
	if len(s.tags) == 0 {
		return errSkip
	}
	id := s.tags[s.pick(len(s.tags))]
	t, _, _ := s.c.Snapshot().Tag(id)
	cb, err := s.c.UpdateTag(id, t.Name, s.pick(100))
	if err != nil {
		return err
	}
	s.emit(cb)
	return nil
}

func (s *script) deleteTag() error {
	if len(s.tags) < 3 {
		return errSkip
	}
	i := s.pick(len(s.tags))
	cb, err := s.c.DeleteTag(s.tags[i])
	if err != nil {
		return err
	}
	s.tags = slices.Delete(s.tags, i, i+1)
	s.emit(cb)
	return nil
}

func (s *script) shuffleTags() error {
	if len(s.tagGroups) == 0 {
		return errSkip
	}
	groupID := s.tagGroups[s.pick(len(s.tagGroups))]
	var ids []string
	for _, id := range s.tags {
		if s.c.tagGroupOf(id) == groupID {
			ids = append(ids, id)
		}
	}
	s.rnd.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	cb, err := s.c.ShuffleTags(groupID, ids...)
	if err != nil {
		return err
	}
	s.emit(cb)
	return nil
}

func (s *script) startHandover() error {
	p, err := s.fullRelation()
	if err != nil {
		return err
	}
	to := s.staff[s.pick(len(s.staff))]
	if to == p.userID || s.following(to, p.externalUserID) && s.rnd.Float64() < 0.7 {
		return errSkip
	}
	if err := s.c.API().TransferCustomer(p.userID, to, p.externalUserID); err != nil {
		return err
	}
	s.waiting = append(s.waiting, p)
	return nil
}

func (s *script) handover() (pair, error) {
	if len(s.waiting) == 0 {
		return pair{}, errSkip
	}
	i := s.pick(len(s.waiting))
	p := s.waiting[i]
	s.waiting = slices.Delete(s.waiting, i, i+1)
	return p, nil
}

func (s *script) takeOver() error {
	p, err := s.handover()
	if err != nil {
		return err
	}
	to := s.c.Snapshot().handoverTo(p)
	cbs, err := s.c.TakeOver(p.userID, p.externalUserID)
	if err != nil {
		return err
	}
	s.dropRelation(p)
	if !s.following(to, p.externalUserID) {
		s.relations = append(s.relations, pair{to, p.externalUserID})
	}
	s.emit(cbs...)
	return nil
}

func (s *script) failTransfer() error {
	p, err := s.handover()
	if err != nil {
		return err
	}
	reason := FailCustomerRefused
	if s.rnd.Float64() < 0.3 {
		reason = FailCustomerLimitExceed
	}
	cb, err := s.c.FailTransfer(p.userID, p.externalUserID, reason)
	if err != nil {
		return err
	}
	s.emit(cb)
	return nil
}

func (st State) handoverTo(p pair) string {
	for _, h := range st.Handovers {
		if h.From == p.userID && h.ExternalUserID == p.externalUserID {
			return h.To
		}
	}
	return ""
}

func (c *Corp) tagGroupOf(tagID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tagOwner[tagID]
}

// SimulateOptions configure Simulate.
type SimulateOptions struct {
	Day DayOptions
	// Emitter configures the delivery; Crypto is taken from the day's
	// corp, and a nil Rand is seeded from Day.Seed.
	Emitter EmitterOptions
	// Verify performs the URL check before the first callback.
	Verify bool
	// OnDelivery, if set, is called after each callback, in order, from
	// Simulate's goroutine.
	OnDelivery func(i int, cb Callback, d Delivery)
}

// Result is what Simulate did.
type Result struct {
	// Corp is the corp as the day left it: the truth a reconciliation
	// compares custody with.
	Corp       *Corp
	Callbacks  []Callback
	Deliveries []Delivery
	Stats      Stats
}

// Simulate plays Day and delivers its callbacks one after another (a
// duplicate may overlap its original) through an Emitter with the given
// habits. It stops at the first error (a failed URL check, a cancelled
// context) and returns what it did so far.
func Simulate(ctx context.Context, o SimulateOptions) (Result, error) {
	c, cbs, err := Day(o.Day)
	if err != nil {
		return Result{}, err
	}
	eo := o.Emitter
	eo.Crypto = c.Crypto()
	if eo.Rand == nil {
		eo.Rand = rand.New(rand.NewPCG(o.Day.Seed, 0xde11))
	}
	e, err := NewEmitter(eo)
	if err != nil {
		return Result{}, err
	}
	res := Result{Corp: c, Callbacks: cbs}
	if o.Verify {
		if err := e.VerifyURL(ctx); err != nil {
			return res, err
		}
	}
	for i, cb := range cbs {
		d, err := e.Send(ctx, cb)
		res.Deliveries = append(res.Deliveries, d)
		res.Stats = e.Stats()
		if err != nil {
			return res, err
		}
		if o.OnDelivery != nil {
			o.OnDelivery(i, cb, d)
		}
	}
	res.Stats = e.Stats()
	return res, nil
}
