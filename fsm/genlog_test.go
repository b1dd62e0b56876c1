package fsm

import (
	"fmt"
	"math/rand"
)

// genLog builds a log of n entries from a seeded source: the same seed gives
// the same bytes. It keeps a rough model of what exists (it cannot see the
// FSM) so that most commands touch real users and sessions; the rest fail
// as business errors, which the FSM must also apply identically.
type genLog struct {
	r       *rand.Rand
	now     int64
	logins  int      // users created so far; the k-th gets ID k (no failed creates)
	live    []uint64 // user IDs believed to exist
	sess    []genSess
	nextSID int
	out     [][]byte
}

type genSess struct {
	digest Digest
	id     string
	uid    uint64
}

func makeLog(seed int64, n int) [][]byte {
	g := &genLog{r: rand.New(rand.NewSource(seed)), now: t0}
	for len(g.out) < n {
		g.now += g.r.Int63n(2e9)
		g.step()
	}
	return g.out
}

func (g *genLog) emit(c Command) { g.out = append(g.out, MustEncode(c)) }

func (g *genLog) user() uint64 {
	if len(g.live) == 0 || g.r.Intn(50) == 0 {
		return uint64(g.r.Intn(g.logins + 2)) // sometimes deleted or unknown
	}
	return g.live[g.r.Intn(len(g.live))]
}

func (g *genLog) session() genSess {
	if len(g.sess) == 0 {
		return genSess{digest: dg("none"), id: "none"}
	}
	return g.sess[g.r.Intn(len(g.sess))]
}

func (g *genLog) step() {
	switch p := g.r.Intn(100); {
	case p < 10 || len(g.live) < 5:
		g.createUser()
	case p < 50:
		g.createSession()
	case p < 62:
		var rs []Refresh
		for i := g.r.Intn(20) + 1; i > 0; i-- {
			rs = append(rs, Refresh{Digest: g.session().digest, At: g.now - g.r.Int63n(60e9)})
		}
		g.emit(&RefreshSessions{Refreshes: rs})
	case p < 68:
		s := g.session()
		switch g.r.Intn(4) {
		case 0:
			g.emit(&RevokeSession{Digest: &s.digest})
		case 1:
			g.emit(&RevokeSession{ID: s.id, UserID: s.uid})
		case 2:
			g.emit(&RevokeSession{ID: s.id})
		default:
			g.emit(&RevokeSession{Digest: &s.digest, UserID: g.user()}) // often someone else's
		}
	case p < 70:
		s := g.session()
		g.emit(&RevokeUserSessions{UserID: s.uid, KeepID: []string{"", s.id}[g.r.Intn(2)]})
	case p < 73:
		ds := make([]Digest, 0, 100)
		for i := 0; i < 100; i++ {
			ds = append(ds, g.session().digest)
		}
		g.emit(&PurgeExpired{Now: g.now, Digests: ds})
	case p < 77:
		g.updateUser()
	case p < 78:
		uid := g.user()
		g.emit(&DeleteUser{UserID: uid})
		for i, id := range g.live {
			if id == uid {
				g.live = append(g.live[:i], g.live[i+1:]...)
				break
			}
		}
	case p < 84:
		g.emit(&LoginFailed{UserID: g.user(), At: g.now, Threshold: 3, LockFor: 15 * minute, Window: 5 * minute})
	case p < 86:
		g.emit(&ResetFailures{UserID: g.user()})
	case p < 87:
		s := DefaultSettings()
		s.TokenLimitPerUser = []int{0, 0, 0, 3, 10}[g.r.Intn(5)]
		s.NativeIdle = g.r.Int63n(hour)
		g.emit(&SetSettings{Settings: s})
	default:
		g.misc()
	}
}

func (g *genLog) createUser() {
	if g.logins > 0 && g.r.Intn(10) == 0 { // a retry, or a duplicate login
		k := g.r.Intn(g.logins) + 1
		c := &CreateUser{Nonce: fmt.Sprint("n", k), DB: fmt.Sprint("db", k%3), Login: fmt.Sprint("u", k), PasswordHash: "h", Now: g.now}
		if g.r.Intn(2) == 0 {
			c.Nonce = "other"
		}
		g.emit(c)
		return
	}
	g.logins++
	k := g.logins
	g.emit(&CreateUser{
		Nonce: fmt.Sprint("n", k), DB: fmt.Sprint("db", k%3), Login: fmt.Sprint("u", k),
		Email: fmt.Sprintf("u%d@example.com", k), PasswordHash: fmt.Sprint("hash", k), Now: g.now,
	})
	g.live = append(g.live, uint64(k))
}

func (g *genLog) createSession() {
	if len(g.sess) > 0 && g.r.Intn(20) == 0 { // a retry, or a digest conflict
		s := g.session()
		id := s.id
		if g.r.Intn(2) == 0 {
			id += "-conflict"
		}
		g.emit(&CreateSession{Session: Session{ID: id, Digest: s.digest, UserID: s.uid, Kind: KindNative, Created: g.now}})
		return
	}
	g.nextSID++
	s := Session{
		ID: fmt.Sprintf("sid-%06d", g.nextSID), Digest: dg(fmt.Sprint("token", g.nextSID)),
		Kind: Kind(g.r.Intn(4) + 1), UserID: g.user(), Created: g.now,
		Name: "device", UserAgent: "agent/1.0", ClientAddr: "192.0.2.1",
	}
	if g.r.Intn(10) < 7 {
		s.ExpiresAt = g.now + minute + g.r.Int63n(12*hour)
	}
	if g.r.Intn(4) == 0 {
		s.IdleTimeout = minute + g.r.Int63n(2*hour)
	}
	version := uint64(0) // unchecked
	if v := g.r.Intn(10); v >= 4 {
		version = 1 + uint64(v/9) // 2 is often stale
	}
	g.emit(&CreateSession{Session: s, UserVersion: version})
	g.sess = append(g.sess, genSess{digest: s.Digest, id: s.ID, uid: s.UserID})
}

func (g *genLog) updateUser() {
	c := &UpdateUser{UserID: g.user(), Now: g.now}
	switch g.r.Intn(8) {
	case 0, 1, 2, 3:
		c.Name = sp(fmt.Sprint("name", g.r.Intn(1000)))
	case 4:
		c.PasswordHash = sp(fmt.Sprint("hash-", g.now))
	case 5:
		c.Disabled = bp(true)
	default:
		c.Disabled, c.Admin = bp(false), bp(g.r.Intn(2) == 0)
	}
	g.emit(c)
}

func (g *genLog) misc() {
	n := g.r.Intn(5)
	switch g.r.Intn(7) {
	case 0:
		g.emit(&PutNode{Node: Node{ID: fmt.Sprint("node", n), RaftAddr: fmt.Sprint("10.0.0.", n, ":7000"), APIAddr: fmt.Sprint("http://h", g.now)}})
	case 1:
		g.emit(&RemoveNode{ID: fmt.Sprint("node", n)})
	case 2:
		g.emit(&PutKey{Key: SigningKey{Kid: fmt.Sprint("k", n), Alg: "HS256", Secret: []byte{byte(n), byte(g.r.Intn(2))}, Created: g.now}, Activate: g.r.Intn(2) == 0})
	case 3:
		g.emit(&RetireKey{Kid: fmt.Sprint("k", n), At: g.now})
	case 4:
		g.emit(&CreateDB{Name: fmt.Sprint("tenant", n)})
	case 5:
		g.out = append(g.out, []byte{0xF0, byte(n)}) // ignorable
	default:
		g.emit(&UpdateUser{UserID: g.user(), PasswordHash: sp("")}) // bad_command
	}
}
