package fsm

import "strings"

// AMR is the set of ways a session's user proved who they are, as the
// authentication method reference values of RFC 8176. It is a bit set so
// a session record grows by one varint, not a list of strings.
type AMR uint16

// Authentication methods (RFC 8176 §2). The bit numbers are stored in the
// log and in snapshots: append only.
const (
	AMRPwd  AMR = 1 << 0 // a password (or an app password)
	AMROTP  AMR = 1 << 1 // a one-time code (TOTP)
	AMRHwk  AMR = 1 << 2 // a hardware-bound key (a WebAuthn credential)
	AMRKba  AMR = 1 << 3 // knowledge-based: a recovery code
	AMRUser AMR = 1 << 4 // user presence/verification by the authenticator
	// AMRPin: the authenticator verified its user (a WebAuthn UV flag:
	// a PIN or a biometric, which it does not say; "pin" is the nearest
	// RFC 8176 value). With AMRHwk it is a second factor on its own.
	AMRPin AMR = 1 << 5
)

var amrNames = [...]struct {
	bit  AMR
	name string
}{{AMRPwd, "pwd"}, {AMROTP, "otp"}, {AMRHwk, "hwk"}, {AMRKba, "kba"}, {AMRUser, "user"}, {AMRPin, "pin"}}

// Names lists the set's RFC 8176 values, plus "mfa" when more than one
// factor was used (§2: "multiple-factor authentication").
func (a AMR) Names() []string {
	var out []string
	for _, n := range amrNames {
		if a&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	if a.Factors() > 1 {
		out = append(out, "mfa")
	}
	return out
}

// Factors counts the distinct factors: a password is one, and any of a
// one-time code, a recovery code or a hardware key is a second. A
// hardware key that verified its user (AMRPin: a passkey sign-in with
// user verification) stands for the first: something held, unlocked by
// something known or something the user is.
func (a AMR) Factors() int {
	n := 0
	if a&AMRPwd != 0 || a&(AMRHwk|AMRPin) == AMRHwk|AMRPin {
		n++
	}
	if a&(AMROTP|AMRHwk|AMRKba) != 0 {
		n++
	}
	return n
}

// String is Names joined with spaces, for logs.
func (a AMR) String() string { return strings.Join(a.Names(), " ") }

// AuthAt is when the session's user last proved who they are: AuthTime,
// or for a session made before it was recorded, its creation.
func (s *Session) AuthAt() int64 {
	if s.AuthTime != 0 {
		return s.AuthTime
	}
	return s.Created
}

// Methods is the session's AMR; a session made before methods were
// recorded was made with a password (every login then was).
func (s *Session) Methods() AMR {
	if s.AMR == 0 {
		return AMRPwd
	}
	return s.AMR
}

// AppendJSON appends Names as a JSON array without allocating (the names
// are plain ASCII): whoami writes it on every validation.
func (a AMR) AppendJSON(b []byte) []byte {
	b = append(b, '[')
	first := true
	add := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(append(append(b, '"'), name...), '"')
	}
	for _, n := range amrNames {
		if a&n.bit != 0 {
			add(n.name)
		}
	}
	if a.Factors() > 1 {
		add("mfa")
	}
	return append(b, ']')
}
