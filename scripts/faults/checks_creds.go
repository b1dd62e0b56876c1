package faults

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The checkers of the credentials workload (workload_creds.go): a JWT
// signing key and a service client are credentials too, and their
// revocation is final on acknowledgement like a session's (P2).

// jwtKid is the kid in a JWT's header, or "" for a token that is not a
// JWT (opaque tokens have no dots).
func jwtKid(tok string) string {
	head, _, ok := strings.Cut(tok, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.Kid
}

// keyMaybeRevoked reports whether a revocation of the token's key,
// acknowledged or not, could have ended it.
func (ti *tokenInfo) keyMaybeRevoked() bool {
	for _, r := range ti.keyRevokes {
		if r.Result != Failed {
			return true
		}
	}
	return false
}

// CheckKeyRevocation is P2-key: no JWT validates, at the default or the
// consistent level, after a revocation of the key that signed it was
// acknowledged, whenever the token was issued (a node may sign with a key
// it has not yet seen revoked; the token must still be refused).
func CheckKeyRevocation(h History) Verdict {
	v := Verdict{Name: "P2-key no JWT validation after its key's revocation was acknowledged"}
	toks := h.tokens()
	checked, revokes := 0, 0
	for _, op := range h.Ops {
		if op.Kind == KeyRevoke && op.Result == OK {
			revokes++
		}
	}
	for _, op := range h.validations() {
		if op.Level == "stale" {
			continue
		}
		ti, ok := toks[op.Token]
		if !ok {
			continue
		}
		ack, ok := ti.ackKeyRevoke()
		if !ok || op.Call <= ack {
			continue
		}
		checked++
		if op.Valid {
			v.violation("op %d: %s validated JWT %s (key %s) at %s level %v after the key's revocation was acknowledged",
				op.ID, op.Node, short(op.Token), jwtKid(op.Token), op.Level, time.Duration(op.Call-ack))
		}
	}
	v.Detail = append(v.Detail, fmt.Sprintf("%d validations of JWTs after their key's revocation checked (%d key revocations acknowledged)", checked, revokes))
	v.passUnlessFailed()
	return v
}

// CheckClientRevocation is P2-client: no node accepts a service client's
// credentials after the client's deletion was acknowledged.
func CheckClientRevocation(h History) Verdict {
	v := Verdict{Name: "P2-client no service client accepted after its deletion was acknowledged"}
	deleted := map[string]int64{} // client id → earliest acknowledged deletion
	for _, op := range h.Ops {
		if op.Kind == ClientDelete && op.Result == OK {
			if at, seen := deleted[op.Token]; !seen || op.Return < at {
				deleted[op.Token] = op.Return
			}
		}
	}
	checked, accepted := 0, 0
	for _, op := range h.Ops {
		if op.Kind != ClientAuth || op.Result != OK {
			continue
		}
		if op.Valid {
			accepted++
		}
		ack, ok := deleted[op.Token]
		if !ok || op.Call <= ack {
			continue
		}
		checked++
		if op.Valid {
			v.violation("op %d: %s accepted service client %s %v after its deletion was acknowledged",
				op.ID, op.Node, op.Token, time.Duration(op.Call-ack))
		}
	}
	v.Detail = append(v.Detail, fmt.Sprintf("%d authentications of deleted clients checked (%d deletions acknowledged, %d authentications accepted)", checked, len(deleted), accepted))
	v.passUnlessFailed()
	return v
}
