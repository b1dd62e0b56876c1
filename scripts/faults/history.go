package faults

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"sync"
	"time"
)

// Kind is what an operation did.
type Kind string

// Operation kinds of the workload.
const (
	Login     Kind = "login"
	Validate  Kind = "validate"
	Logout    Kind = "logout"
	LogoutAll Kind = "logoutall"
	// The credentials workload (workload_creds.go): a JWT signing key
	// revoked (Kid names it), a service client deleted and a service
	// client's authentication (Token is the client id; Valid: accepted).
	KeyRevoke    Kind = "keyrevoke"
	ClientDelete Kind = "clientdelete"
	ClientAuth   Kind = "clientauth"
)

// Outcome is what the client learned about an operation.
type Outcome string

// Outcomes. A write whose outcome is Unknown may or may not have taken
// effect; a read whose outcome is not OK says nothing and is dropped.
const (
	OK      Outcome = "ok"      // answered: a write took effect, a read answered Valid
	Failed  Outcome = "failed"  // definitely did not take effect (a 4xx before any write)
	Unknown Outcome = "unknown" // timed out, connection lost, 5xx
)

// Open is the Return of an operation whose end is unknown (etcd's rule:
// a failed write may take effect at any time after its call).
const Open = math.MaxInt64

// Op is one recorded operation. Times are nanoseconds since the history's
// base on one monotonic clock; Wall is the wall clock at the call, for the
// expiry check (P8), which compares with expires_at stamped by a node.
type Op struct {
	ID     int     `json:"id"`
	Client int     `json:"client"` // porcupine client: a new one after each unknown write
	Kind   Kind    `json:"kind"`
	User   string  `json:"user"`
	Token  string  `json:"token,omitempty"` // login: the token issued; others: the token used
	Level  string  `json:"level,omitempty"` // validate (and logoutall's own authentication)
	Node   string  `json:"node"`
	Call   int64   `json:"call"`
	Return int64   `json:"return"`
	Wall   int64   `json:"wall"`
	Status int     `json:"status"` // HTTP status, 0 = no answer
	Result Outcome `json:"result"`
	Valid  bool    `json:"valid,omitempty"` // validate: the token was accepted
	Index  uint64  `json:"index,omitempty"` // X-Sessiond-Index of the answer
	// ExpiresAt is the session's expiry from the login response (unix ns,
	// second precision as the API shows it; 0 = none).
	ExpiresAt int64 `json:"expires_at,omitempty"`
	Sweep     bool  `json:"sweep,omitempty"` // part of the end-of-test sweep (P3)
	// Via says how: a knox login; a logoutall that is a password change
	// or a disable (each ends every session of the user, as logoutall).
	Via string `json:"via,omitempty"`
	Err string `json:"err,omitempty"`
	Kid string `json:"kid,omitempty"` // keyrevoke: the key revoked
	// Session is a native login's public session id (what its events
	// name: CheckEventStreams).
	Session string `json:"session,omitempty"`
}

// History is every operation of a run, in the order they were recorded.
type History struct {
	Base time.Time `json:"base"` // wall clock at monotonic zero
	Ops  []Op      `json:"ops"`
}

// Recorder collects operations from concurrent clients. Times come from
// one monotonic base.
type Recorder struct {
	base    time.Time
	mu      sync.Mutex
	ops     []Op
	clients int
}

// NewRecorder starts a history now.
func NewRecorder() *Recorder { return &Recorder{base: time.Now()} }

// Now is the time since the base on the monotonic clock.
func (r *Recorder) Now() int64 { return int64(time.Since(r.base)) }

// NewClient returns a fresh porcupine client id.
func (r *Recorder) NewClient() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clients++
	return r.clients - 1
}

// Add records an operation and returns its id.
func (r *Recorder) Add(op Op) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.ID = len(r.ops)
	r.ops = append(r.ops, op)
	return op.ID
}

// History returns a copy of everything recorded so far.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return History{Base: r.base, Ops: append([]Op(nil), r.ops...)}
}

// Save writes the history as JSON.
func (h History) Save(path string) error {
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// LoadHistory reads a history written by Save.
func LoadHistory(path string) (History, error) {
	var h History
	data, err := os.ReadFile(path)
	if err != nil {
		return h, err
	}
	return h, json.Unmarshal(data, &h)
}

// Counts returns how many operations of each kind and outcome the history
// holds, as "login ok" → n.
func (h History) Counts() map[string]int {
	out := map[string]int{}
	for _, op := range h.Ops {
		k := string(op.Kind)
		if op.Via != "" {
			k += " (" + op.Via + ")"
		}
		if op.Kind == Validate && op.Result == OK {
			k += fmt.Sprintf(" %s %v", op.Level, op.Valid)
		} else {
			k += " " + string(op.Result)
		}
		if op.Sweep {
			k = "sweep " + k
		}
		out[k]++
	}
	return out
}

// tokenInfo is what the checkers know about one issued token.
type tokenInfo struct {
	login   Op
	revokes []Op // logouts of it and logoutalls of its user that could cover it
	// keyRevokes are the revocations of the key that signed it (a JWT):
	// each ends it whenever it was issued.
	keyRevokes []Op
}

// ackRevoke returns the earliest Return of a successful revocation that
// certainly covers the token: a logout of it, or a logoutall of its user
// called after the login returned. ok is false when there is none.
func (ti *tokenInfo) ackRevoke() (int64, bool) {
	best, ok := int64(Open), false
	for _, r := range ti.revokes {
		if r.Result != OK {
			continue
		}
		if r.Kind == LogoutAll && r.Call <= ti.login.Return {
			continue
		}
		if r.Return < best {
			best, ok = r.Return, true
		}
	}
	return best, ok
}

// ackKeyRevoke returns the earliest Return of an acknowledged revocation
// of the key that signed the token. Unlike a logoutall it covers tokens
// issued after it too: a lagging node may still sign with the key, and
// every token it signed must be refused from the acknowledgement on.
func (ti *tokenInfo) ackKeyRevoke() (int64, bool) {
	best, ok := int64(Open), false
	for _, r := range ti.keyRevokes {
		if r.Result == OK && r.Return < best {
			best, ok = r.Return, true
		}
	}
	return best, ok
}

// ackAnyRevoke is the earlier of ackRevoke and ackKeyRevoke.
func (ti *tokenInfo) ackAnyRevoke() (int64, bool) {
	a, okA := ti.ackRevoke()
	k, okK := ti.ackKeyRevoke()
	return min(a, k), okA || okK
}

// maybeRevoked reports whether any revocation, acknowledged or not, could
// have ended the token.
func (ti *tokenInfo) maybeRevoked() bool {
	for _, r := range ti.keyRevokes {
		if r.Result != Failed {
			return true
		}
	}
	for _, r := range ti.revokes {
		if r.Result == Failed {
			continue
		}
		if r.Kind == LogoutAll && r.Return < ti.login.Call {
			continue
		}
		return true
	}
	return false
}

// tokens indexes the acknowledged logins and their revocations.
func (h History) tokens() map[string]*tokenInfo {
	out := map[string]*tokenInfo{}
	byUser := map[string][]*tokenInfo{}
	for _, op := range h.Ops {
		if op.Kind == Login && op.Result == OK && op.Token != "" {
			ti := &tokenInfo{login: op}
			out[op.Token] = ti
			byUser[op.User] = append(byUser[op.User], ti)
		}
	}
	byKid := map[string][]*tokenInfo{}
	for _, ti := range out {
		if kid := jwtKid(ti.login.Token); kid != "" {
			byKid[kid] = append(byKid[kid], ti)
		}
	}
	for _, op := range h.Ops {
		switch op.Kind {
		case KeyRevoke:
			for _, ti := range byKid[op.Kid] {
				ti.keyRevokes = append(ti.keyRevokes, op)
			}
		case Logout:
			if ti, ok := out[op.Token]; ok {
				ti.revokes = append(ti.revokes, op)
			}
		case LogoutAll:
			for _, ti := range byUser[op.User] {
				if op.Via == "keep-current" && op.Token == ti.login.Token {
					continue // the calling session is kept
				}
				ti.revokes = append(ti.revokes, op)
			}
		}
	}
	return out
}

// validations returns the answered validations, sorted by call time.
func (h History) validations() []Op {
	var out []Op
	for _, op := range h.Ops {
		if op.Kind == Validate && op.Result == OK {
			out = append(out, op)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Call < out[j].Call })
	return out
}
