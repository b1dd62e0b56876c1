package faults

import (
	"errors"
	"net"
	"testing"
)

// A read asked at stale is served at the node's default (clients cannot
// weaken it), so it must be recorded as a default read, which P2 checks.
func TestServedLevel_StaleAskedIsDefaultServed(t *testing.T) {
	w := &Workload{cl: &Cluster{}}
	for asked, want := range map[string]string{"stale": "default", "default": "default", "": "default", "consistent": "consistent"} {
		if got := w.servedLevel(asked); got != want {
			t.Errorf("asked %q: recorded %q, want %q", asked, got, want)
		}
	}
	w.cl.cfg.Consistency = "consistent"
	if got := w.servedLevel("stale"); got != "consistent" {
		t.Errorf("on consistent nodes a stale ask is recorded %q", got)
	}
}

// A write without an answer is never a success, whatever status counts
// as one (a 0 status once matched okStatus 0 and made lost logouts look
// acknowledged).
func TestWriteOutcome_NoAnswerIsNeverSuccess(t *testing.T) {
	dial := &net.OpError{Op: "dial", Err: errors.New("refused")}
	cases := []struct {
		a    Answer
		ok   int
		want Outcome
	}{
		{Answer{Err: errors.New("reset")}, 0, Unknown},
		{Answer{Err: dial}, 0, Failed},
		{Answer{Status: 204}, 0, OK},
		{Answer{Status: 200}, 0, OK},
		{Answer{Status: 401}, 0, Failed},
		{Answer{Status: 503}, 0, Unknown},
		{Answer{Status: 204}, 204, OK},
		{Answer{Err: errors.New("reset")}, 204, Unknown},
	}
	for _, c := range cases {
		if got := writeOutcome(c.a, c.ok); got != c.want {
			t.Errorf("writeOutcome(%d %v, %d) = %s, want %s", c.a.Status, c.a.Err, c.ok, got, c.want)
		}
	}
}

// A logoutall keeping the calling session revokes the user's others but
// not the caller: P2 must not flag the kept token, and must flag the rest.
func TestTokens_KeepCurrentSparesTheCaller(t *testing.T) {
	h := History{Ops: []Op{
		{ID: 0, Kind: Login, User: "u", Token: "kept", Call: 1, Return: 2, Result: OK},
		{ID: 1, Kind: Login, User: "u", Token: "other", Call: 1, Return: 2, Result: OK},
		{ID: 2, Kind: LogoutAll, Via: "keep-current", User: "u", Token: "kept", Call: 3, Return: 4, Result: OK},
		{ID: 3, Kind: Validate, User: "u", Token: "kept", Level: "default", Call: 5, Return: 6, Result: OK, Valid: true},
		{ID: 4, Kind: Validate, User: "u", Token: "other", Level: "default", Call: 5, Return: 6, Result: OK, Valid: true},
	}}
	v := CheckRevocationBound(h, 0)
	if v.Result != Fail || len(v.Detail) != 2 {
		t.Fatalf("want one violation (the other token), got %s %v", v.Result, v.Detail)
	}
	if _, ok := h.tokens()["kept"].ackRevoke(); ok {
		t.Fatal("the kept token counts as revoked")
	}
}
