package faults

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Result is a checker's verdict.
type Result string

// Verdicts. Inconclusive is never a pass.
const (
	Pass         Result = "pass"
	Fail         Result = "FAIL"
	Inconclusive Result = "inconclusive"
	Skipped      Result = "skipped"
)

// Verdict is one checker's answer with the evidence.
type Verdict struct {
	Name   string   `json:"name"`
	Result Result   `json:"result"`
	Detail []string `json:"detail,omitempty"`
}

// maxDetail bounds how many violations a verdict lists.
const maxDetail = 20

func (v *Verdict) violation(format string, args ...any) {
	v.Result = Fail
	if len(v.Detail) < maxDetail {
		v.Detail = append(v.Detail, fmt.Sprintf(format, args...))
	}
}

func (v *Verdict) passUnlessFailed() {
	if v.Result == "" {
		v.Result = Pass
	}
}

func short(tok string) string {
	if len(tok) > 10 {
		return tok[:10] + "…"
	}
	return tok
}

// CheckRevocationBound is P2: no token validates more than bound after a
// revocation of it was acknowledged at the default level, and none at all
// at the consistent level. The suite runs it with bound 0: revocations are
// final on every lease holder when acknowledged. Stale reads promise no
// bound and are not checked; the workload records none, since a node
// serves a client's stale ask at its own default (Workload.servedLevel):
// labelling those reads by the ask once hid a third of the default-level
// reads, and a planted stale read with them.
func CheckRevocationBound(h History, maxStale time.Duration) Verdict {
	v := Verdict{Name: "P2 no validation after an acknowledged revocation"}
	toks := h.tokens()
	checked, atDefault, reads := 0, 0, 0
	for _, op := range h.validations() {
		if op.Level == "default" {
			reads++
		}
		if !op.Valid || op.Level == "stale" {
			continue
		}
		ti, ok := toks[op.Token]
		if !ok {
			continue
		}
		ack, ok := ti.ackRevoke()
		if !ok {
			continue
		}
		checked++
		bound := int64(0)
		if op.Level != "consistent" {
			bound = int64(maxStale)
			atDefault++
		}
		if op.Call > ack+bound {
			v.violation("op %d: %s validated token %s at %s level %v after its revocation was acknowledged (bound %v)",
				op.ID, op.Node, short(op.Token), op.Level, time.Duration(op.Call-ack), time.Duration(bound))
		}
	}
	v.Detail = append(v.Detail, fmt.Sprintf("%d validations of revoked tokens checked, %d of them at default level (of %d default-level reads)", checked, atDefault, reads))
	v.passUnlessFailed()
	return v
}

// CheckDurability is P3, over the sweep operations (consistent
// validations after quiet, on every node): every acknowledged login is
// still valid unless some revocation may have ended it or it expired;
// every acknowledged revocation still holds; tokens whose fate depends on
// an unknown revocation answer the same on every node.
func CheckDurability(h History, now time.Time) Verdict {
	v := Verdict{Name: "P3 acknowledged logins and revocations survive"}
	toks := h.tokens()
	answers := map[string]map[bool][]string{}
	n := 0
	for _, op := range h.Ops {
		if !op.Sweep || op.Kind != Validate {
			continue
		}
		ti, ok := toks[op.Token]
		if !ok {
			continue
		}
		if op.Result != OK {
			v.violation("sweep of token %s on %s got no answer: %s", short(op.Token), op.Node, op.Err)
			continue
		}
		n++
		if answers[op.Token] == nil {
			answers[op.Token] = map[bool][]string{}
		}
		answers[op.Token][op.Valid] = append(answers[op.Token][op.Valid], op.Node)
		_, acked := ti.ackAnyRevoke()
		expired := ti.login.ExpiresAt != 0 && now.Add(2*time.Second).UnixNano() >= ti.login.ExpiresAt
		switch {
		case acked && op.Valid:
			v.violation("token %s of %s validates on %s although its revocation was acknowledged", short(op.Token), op.User, op.Node)
		case !acked && !ti.maybeRevoked() && !expired && !op.Valid:
			v.violation("token %s of %s (login acknowledged at %v on %s) is lost: refused on %s",
				short(op.Token), op.User, time.Duration(ti.login.Return), ti.login.Node, op.Node)
		}
	}
	for tok, a := range answers {
		if len(a[true]) > 0 && len(a[false]) > 0 {
			v.violation("token %s: nodes disagree after quiet: valid on %v, refused on %v", short(tok), a[true], a[false])
		}
	}
	// Tokens that outlive the check were certainly in the sweep (it skips
	// only those expiring within 2 s of its start, which came earlier);
	// with some of them and no answers at all, the sweep itself failed.
	// When every token has expired, as in the expiry scenario, an empty
	// sweep is correct.
	live := 0
	for _, ti := range toks {
		if exp := ti.login.ExpiresAt; exp == 0 || exp > now.Add(2*time.Second).UnixNano() {
			live++
		}
	}
	if n == 0 && live > 0 {
		v.violation("no sweep answers for %d acknowledged logins still live", live)
	}
	v.Detail = append(v.Detail, fmt.Sprintf("%d sweep answers over %d acknowledged logins", n, len(toks)))
	v.passUnlessFailed()
	return v
}

// CheckMonotonicRevocation is P4: once a node has refused a token whose
// login was acknowledged before the refusal was asked, at the default or
// consistent level, it never accepts that token again — also across its
// own restart. A later stale acceptance counts too when it reports an
// applied index at least the refusal's (that state cannot hold the token).
func CheckMonotonicRevocation(h History) Verdict {
	v := Verdict{Name: "P4 per-node revocation is monotonic"}
	toks := h.tokens()
	type key struct{ node, tok string }
	refused := map[key]Op{}
	checked := 0
	for _, op := range h.validations() {
		ti, ok := toks[op.Token]
		if !ok {
			continue
		}
		k := key{op.Node, op.Token}
		if !op.Valid {
			if op.Level != "stale" && op.Call > ti.login.Return {
				if _, seen := refused[k]; !seen {
					refused[k] = op
				}
			}
			continue
		}
		r, seen := refused[k]
		if !seen || op.Call <= r.Return {
			continue
		}
		checked++
		if op.Level == "stale" && op.Index < r.Index {
			continue
		}
		v.violation("op %d: %s accepted token %s at %s level (index %d) after refusing it in op %d (index %d, %v earlier)",
			op.ID, op.Node, short(op.Token), op.Level, op.Index, r.ID, r.Index, time.Duration(op.Call-r.Return))
	}
	v.Detail = append(v.Detail, fmt.Sprintf("%d (node, token) refusals, %d later acceptances examined", len(refused), checked))
	v.passUnlessFailed()
	return v
}

// NodeState is one node's status sample (GET /v1/cluster).
type NodeState struct {
	Node      string `json:"node"`
	At        int64  `json:"at"` // recorder time
	State     string `json:"state"`
	Term      uint64 `json:"term"`
	Leader    string `json:"leader"`
	Applied   uint64 `json:"applied_index"`
	StateHash string `json:"state_hash,omitempty"`
	Err       string `json:"err,omitempty"`
	// LeaseValid: the node held a read lease (faults that need one note it).
	LeaseValid bool `json:"lease_valid,omitempty"`
}

// CheckConvergence is P5 over the last status of every node after quiet:
// one applied index and one state hash everywhere.
func CheckConvergence(final []NodeState) Verdict {
	v := Verdict{Name: "P5 same applied index and state hash after quiet"}
	if len(final) == 0 {
		v.violation("no final status")
		return v
	}
	for _, s := range final {
		if s.Err != "" || s.StateHash == "" {
			v.violation("%s: no hashed status: %s", s.Node, s.Err)
		}
	}
	ref := final[0]
	for _, s := range final[1:] {
		if s.Applied != ref.Applied || s.StateHash != ref.StateHash {
			v.violation("%s at index %d hash %.12s differs from %s at index %d hash %.12s",
				s.Node, s.Applied, s.StateHash, ref.Node, ref.Applied, ref.StateHash)
		}
	}
	if v.Result == "" {
		v.Detail = append(v.Detail, fmt.Sprintf("%d nodes at index %d, hash %.12s", len(final), ref.Applied, ref.StateHash))
	}
	v.passUnlessFailed()
	return v
}

// CheckOneLeaderPerTerm is P6 over status samples: no two nodes claim to
// lead in the same term. A node's state and term are read one after the
// other, so a leader stepping down can be sampled once as "leader" in the
// next term; a claim therefore counts when a node reported it in at least
// two samples. Conflicts between single-sample claims are listed, not
// failed.
func CheckOneLeaderPerTerm(samples []NodeState) Verdict {
	v := Verdict{Name: "P6 at most one leader per term"}
	claims := map[uint64]map[string]int{}
	for _, s := range samples {
		if s.Err != "" || s.State != "Leader" {
			continue
		}
		if claims[s.Term] == nil {
			claims[s.Term] = map[string]int{}
		}
		claims[s.Term][s.Node]++
	}
	terms := make([]uint64, 0, len(claims))
	for t := range claims {
		terms = append(terms, t)
	}
	sort.Slice(terms, func(i, j int) bool { return terms[i] < terms[j] })
	for _, t := range terms {
		var firm, weak []string
		for node, n := range claims[t] {
			if n >= 2 {
				firm = append(firm, node)
			} else {
				weak = append(weak, node)
			}
		}
		sort.Strings(firm)
		if len(firm) > 1 {
			v.violation("term %d has leaders %v", t, firm)
		} else if len(firm)+len(weak) > 1 {
			v.Detail = append(v.Detail, fmt.Sprintf("term %d: single-sample claims %v besides %v (sampling race, not counted)", t, weak, firm))
		}
	}
	v.Detail = append(v.Detail, fmt.Sprintf("%d samples, %d terms with a leader", len(samples), len(terms)))
	v.passUnlessFailed()
	return v
}

// CheckNoSecrets is P7: no issued token and no test password appears in
// any file under dirs (data dirs, logs). Tokens are found as runs of
// lowercase hex of their length; passwords by substring.
func CheckNoSecrets(dirs []string, tokens, passwords []string) Verdict {
	v := Verdict{Name: "P7 no token or password at rest or in logs"}
	tokSet := map[string]bool{}
	lengths := map[int]bool{}
	for _, t := range tokens {
		tokSet[t] = true
		lengths[len(t)] = true
	}
	files, bytesRead := 0, int64(0)
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				v.violation("cannot read %s: %v", path, err)
				return nil
			}
			files++
			bytesRead += int64(len(data))
			for _, run := range hexRuns(data) {
				for n := range lengths {
					for i := 0; i+n <= len(run); i++ {
						if tokSet[string(run[i:i+n])] {
							v.violation("token %s found in %s", short(string(run[i:i+n])), path)
						}
					}
				}
			}
			for _, pw := range passwords {
				if pw != "" && bytes.Contains(data, []byte(pw)) {
					v.violation("password %.4s… found in %s", pw, path)
				}
			}
			return nil
		})
	}
	v.Detail = append(v.Detail, fmt.Sprintf("%d files, %d bytes, %d tokens, %d passwords searched", files, bytesRead, len(tokSet), len(passwords)))
	if files == 0 {
		v.violation("no files found under %s", strings.Join(dirs, ", "))
	}
	v.passUnlessFailed()
	return v
}

// hexRuns returns the maximal runs of lowercase hex of 40 or more bytes.
func hexRuns(data []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i <= len(data); i++ {
		isHex := i < len(data) && (data[i] >= '0' && data[i] <= '9' || data[i] >= 'a' && data[i] <= 'f')
		if isHex && start < 0 {
			start = i
		} else if !isHex && start >= 0 {
			if i-start >= 40 {
				out = append(out, data[start:i])
			}
			start = -1
		}
	}
	return out
}

// CheckExpiry is P8: no validation accepts a token after its expires_at
// plus skew. expires_at is shown with second precision, so one second is
// added to it.
func CheckExpiry(h History, skew time.Duration) Verdict {
	v := Verdict{Name: "P8 no validation after expires_at + skew"}
	toks := h.tokens()
	checked := 0
	for _, op := range h.validations() {
		ti, ok := toks[op.Token]
		if !ok || ti.login.ExpiresAt == 0 {
			continue
		}
		limit := ti.login.ExpiresAt + int64(time.Second) + int64(skew)
		if op.Wall > ti.login.ExpiresAt {
			checked++
		}
		if op.Valid && op.Wall > limit {
			v.violation("op %d: %s accepted token %s %v after its expiry (skew %v)",
				op.ID, op.Node, short(op.Token), time.Duration(op.Wall-ti.login.ExpiresAt), skew)
		}
	}
	v.Detail = append(v.Detail, fmt.Sprintf("%d validations after expires_at checked", checked))
	if checked == 0 {
		v.Result = Skipped
		v.Detail = append(v.Detail, "no validation after any expiry (expiry not exercised)")
	}
	v.passUnlessFailed()
	return v
}

// CheckCorrectLogins: every workload login uses the user's right password
// for a user whose creation was acknowledged, so a 401 is a bug (a node
// judging credentials from state that lacks an acknowledged write). It is
// not one of P1–P8; the suite found such a bug with it.
func CheckCorrectLogins(h History) Verdict {
	v := Verdict{Name: "correct credentials never refused"}
	n := 0
	for _, op := range h.Ops {
		if op.Kind != Login {
			continue
		}
		n++
		if op.Status == 401 {
			v.violation("op %d: login of %s on %s refused with 401: %s", op.ID, op.User, op.Node, op.Err)
		}
	}
	v.Detail = append(v.Detail, fmt.Sprintf("%d logins", n))
	v.passUnlessFailed()
	return v
}
