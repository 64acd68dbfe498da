package importer

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/go-json-experiment/json"
)

// Sample describes a synthetic import file (WriteSample): for tests,
// benchmarks and trying the importer out.
type Sample struct {
	Staff     int
	Relations int
	// Groups, each with MembersPerGroup members (customers, and the owner
	// as a staff member).
	Groups          int
	MembersPerGroup int
	// Seed makes the file reproducible.
	Seed uint64
	// Start is the business time of the first record; each record is one
	// second after the previous one. Default 2024-01-01T00:00:00Z.
	Start time.Time
}

// WriteSample writes a JSONL import file: the staff members, then the
// relations (about one customer in ten is followed by two members; a pair
// drawn twice is a record the domain refuses), then the group chats and
// their members.
func WriteSample(w io.Writer, s Sample) error {
	if s.Staff < 1 {
		return fmt.Errorf("importer: a sample needs at least one staff member")
	}
	if s.Start.IsZero() {
		s.Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
	at := s.Start
	line := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		at = at.Add(time.Second)
		bw.Write(b)
		return bw.WriteByte('\n')
	}
	staffID := func(i int) string { return fmt.Sprintf("s%05d", i) }
	for i := range s.Staff {
		if err := line(staffLine{Kind: KindStaff, At: at, StaffID: staffID(i), Name: fmt.Sprintf("员工 %d", i), Capacity: 0}); err != nil {
			return err
		}
	}
	initiators := []string{"staff", "customer"}
	for i := range s.Relations {
		c := i - i/10 // every tenth relation reuses the previous customer
		l := relationLine{
			Kind: KindRelation, At: at, CustomerID: fmt.Sprintf("wm%08d", c), StaffID: staffID(rng.IntN(s.Staff)),
			Initiator: initiators[i%2], AddWay: i % 4, State: fmt.Sprintf("ch%02d", i%50),
			CustomerName: fmt.Sprintf("客户 %d", c), Remark: fmt.Sprintf("remark %d", i),
			Phones: []string{fmt.Sprintf("138%08d", c%100_000_000)},
		}
		if i%3 == 0 {
			l.Tags = []string{fmt.Sprintf("tag%d", i%7)}
		}
		if i%5 == 0 {
			l.Description = "imported from WeCom"
		}
		if err := line(l); err != nil {
			return err
		}
	}
	for g := range s.Groups {
		chat := fmt.Sprintf("wr%06d", g)
		owner := staffID(g % s.Staff)
		if err := line(groupLine{Kind: KindGroup, At: at, ChatID: chat, OwnerID: owner, Name: fmt.Sprintf("群 %d", g)}); err != nil {
			return err
		}
		if err := line(memberLine{Kind: KindMember, At: at, ChatID: chat, MemberID: owner, MemberType: "staff", JoinScene: "invited"}); err != nil {
			return err
		}
		for m := range s.MembersPerGroup {
			c := max(s.Relations-s.Relations/10, 1)
			l := memberLine{Kind: KindMember, At: at, ChatID: chat, MemberID: fmt.Sprintf("wm%08d", (g*31+m*7)%c),
				MemberType: "customer", JoinScene: []string{"invited", "link", "qrcode"}[m%3], Nickname: fmt.Sprintf("昵称 %d", m)}
			if l.JoinScene == "invited" {
				l.InviterID = owner
			}
			if err := line(l); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}
