package faults

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// modelIn is one operation as the session model sees it: tokens are
// numbered so that per-user states stay short strings.
type modelIn struct {
	Kind Kind
	User string
	Tok  int
	Desc string
}

// modelOut is a validation's answer.
type modelOut struct{ Valid bool }

// tokenSet is a per-user state: the sorted live token numbers, joined by
// commas (a string, so == and hashing work).
func tokenSet(s string) []int {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := make([]int, len(parts))
	for i, p := range parts {
		out[i], _ = strconv.Atoi(p)
	}
	return out
}

func joinSet(ids []int) string {
	sort.Ints(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return strings.Join(parts, ",")
}

func hasTok(ids []int, t int) bool {
	for _, id := range ids {
		if id == t {
			return true
		}
	}
	return false
}

// SessionModel is the sequential specification of one user's sessions: a
// login adds its (fresh) token, a validation answers whether the token is
// live, a logout removes one token (idempotent), a logoutall removes all.
var SessionModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		idx := map[string]int{}
		var out [][]porcupine.Operation
		for _, op := range h {
			u := op.Input.(modelIn).User
			i, ok := idx[u]
			if !ok {
				i = len(out)
				idx[u] = i
				out = append(out, nil)
			}
			out[i] = append(out[i], op)
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		s, in := state.(string), input.(modelIn)
		ids := tokenSet(s)
		switch in.Kind {
		case Login:
			if hasTok(ids, in.Tok) {
				return false, s // a token issued twice
			}
			return true, joinSet(append(ids, in.Tok))
		case Validate:
			return output.(modelOut).Valid == hasTok(ids, in.Tok), s
		case Logout:
			var keep []int
			for _, id := range ids {
				if id != in.Tok {
					keep = append(keep, id)
				}
			}
			return true, joinSet(keep)
		case LogoutAll:
			if in.Tok != 0 && hasTok(ids, in.Tok) {
				return true, joinSet([]int{in.Tok}) // keep-current
			}
			return true, ""
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in := input.(modelIn)
		if in.Kind == Validate {
			return fmt.Sprintf("%s -> %v", in.Desc, output.(modelOut).Valid)
		}
		return in.Desc
	},
	DescribeState: func(state any) string {
		if state.(string) == "" {
			return "{}"
		}
		return "{" + state.(string) + "}"
	},
}

// linearizableOps turns a history into porcupine operations: every
// acknowledged login, every logout and logoutall that may have taken effect
// (open-ended when unknown), and every answered validation at the
// consistent level. Validations of a token close to its expiry are left
// out (expiry is P8's business, not the model's).
func linearizableOps(h History, expiryMargin time.Duration) []porcupine.Operation {
	num := map[string]int{}
	tokNum := func(t string) int {
		n, ok := num[t]
		if !ok {
			n = len(num) + 1
			num[t] = n
		}
		return n
	}
	logins := h.tokens()
	// A key revocation ends every token its key signed, whoever's: the
	// per-user model cannot say that, so those tokens are left to P2-key
	// and P3 (every one of them, whatever its user).
	keyEnded := func(tok string) bool {
		ti, ok := logins[tok]
		return ok && ti.keyMaybeRevoked()
	}
	var ops []porcupine.Operation
	for _, op := range h.Ops {
		if (op.Kind == Login || op.Kind == Validate || op.Kind == Logout) && keyEnded(op.Token) {
			continue
		}
		in := modelIn{Kind: op.Kind, User: op.User}
		var out any = modelOut{}
		switch op.Kind {
		case Login:
			if op.Result != OK {
				continue
			}
			in.Tok = tokNum(op.Token)
			in.Desc = fmt.Sprintf("login %s #%d @%s", op.User, in.Tok, op.Node)
		case Validate:
			if op.Result != OK || op.Level != "consistent" {
				continue
			}
			ti, ok := logins[op.Token]
			if !ok {
				continue
			}
			if exp := ti.login.ExpiresAt; exp != 0 && h.Base.Add(time.Duration(op.Return)).Add(expiryMargin).UnixNano() >= exp {
				continue
			}
			in.Tok = tokNum(op.Token)
			in.Desc = fmt.Sprintf("validate #%d @%s idx=%d", in.Tok, op.Node, op.Index)
			out = modelOut{Valid: op.Valid}
		case Logout:
			if op.Result == Failed {
				continue
			}
			in.Tok = tokNum(op.Token)
			in.Desc = fmt.Sprintf("logout #%d @%s %s", in.Tok, op.Node, op.Result)
		case LogoutAll:
			if op.Result == Failed {
				continue
			}
			in.Desc = fmt.Sprintf("logoutall %s @%s %s", op.User, op.Node, op.Result)
			if op.Via == "keep-current" {
				in.Tok = tokNum(op.Token)
				in.Desc += fmt.Sprintf(" keeping #%d", in.Tok)
			}
		default:
			continue
		}
		ret := op.Return
		if op.Result == Unknown {
			ret = Open
		}
		ops = append(ops, porcupine.Operation{ClientId: op.Client, Input: in, Call: op.Call, Output: out, Return: ret})
	}
	return ops
}

// CheckLinearizable is P1: porcupine on the consistent-level history,
// partitioned by user. When htmlPath is set and the history is not
// linearizable, porcupine's visualisation is written there. Unknown
// (timeout) is inconclusive, never a pass.
func CheckLinearizable(h History, timeout time.Duration, htmlPath string) Verdict {
	v := Verdict{Name: "P1 linearizable (porcupine, consistent)"}
	ops := linearizableOps(h, 2*time.Second)
	reads := 0
	for _, op := range ops {
		if op.Input.(modelIn).Kind == Validate {
			reads++
		}
	}
	if reads == 0 {
		v.Result = Skipped
		v.Detail = append(v.Detail, "no consistent validations in the history")
		return v
	}
	res, info := porcupine.CheckOperationsVerbose(SessionModel, ops, timeout)
	v.Detail = append(v.Detail, fmt.Sprintf("%d operations, %d consistent validations", len(ops), reads))
	switch res {
	case porcupine.Ok:
		v.Result = Pass
	case porcupine.Illegal:
		v.Result = Fail
		if htmlPath != "" {
			if err := porcupine.VisualizePath(SessionModel, info, htmlPath); err == nil {
				v.Detail = append(v.Detail, "visualisation: "+htmlPath)
			} else {
				v.Detail = append(v.Detail, "visualisation failed: "+err.Error())
			}
		}
	default:
		v.Result = Inconclusive
		v.Detail = append(v.Detail, "porcupine timed out after "+timeout.String())
	}
	return v
}
