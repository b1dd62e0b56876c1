package fsm

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

// TestResealValue_ReplacesOnlyWhatItWasComputedFrom: each sealed value is
// replaced when From is the digest of the bytes in the state, and left
// alone when the state changed since (a new enrolment, a second reseal).
func TestResealValue_ReplacesOnlyWhatItWasComputedFrom(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(newUser("alice"))
	a.must(&TOTPEnrol{UserID: 1, Secret: []byte("old-pending")})
	a.must(&TOTPConfirm{UserID: 1, Pending: SecretDigest([]byte("old-pending")), Step: 1, Recovery: []Digest{dg("rc")}, Now: t0, RecoveryKey: []byte("old-rk")})
	a.must(&TOTPEnrol{UserID: 1, Secret: []byte("old-pending-2")})
	a.must(&PutWebhook{Webhook: Webhook{ID: "wh", URL: "https://h.test/", Secret: []byte("old-wh"), Created: t0}})
	s := a.f.State()
	from := func(b string) Digest { return sha256.Sum256([]byte(b)) }
	for _, c := range []*ResealValue{
		{What: ResealTOTP, UserID: 1, From: from("old-pending"), Sealed: []byte("new-totp")},
		{What: ResealTOTPPending, UserID: 1, From: from("old-pending-2"), Sealed: []byte("new-pending")},
		{What: ResealRecoveryKey, UserID: 1, From: from("old-rk"), Sealed: []byte("new-rk")},
		{What: ResealWebhook, WebhookID: "wh", From: from("old-wh"), Sealed: []byte("new-wh")},
		// Computed against bytes no longer there: no-ops.
		{What: ResealTOTP, UserID: 1, From: from("old-pending"), Sealed: []byte("stale")},
		{What: ResealWebhook, WebhookID: "wh", From: from("old-wh"), Sealed: []byte("stale")},
		{What: ResealTOTP, UserID: 9, From: from("x"), Sealed: []byte("nobody")},
		{What: ResealWebhook, WebhookID: "gone", From: from("x"), Sealed: []byte("nobody")},
	} {
		a.must(c)
	}
	f := s.Factors(1)
	if !bytes.Equal(f.TOTP, []byte("new-totp")) || !bytes.Equal(f.TOTPPending, []byte("new-pending")) || !bytes.Equal(f.RecoveryKey, []byte("new-rk")) {
		t.Errorf("factors after reseal: totp %q pending %q recovery key %q", f.TOTP, f.TOTPPending, f.RecoveryKey)
	}
	if f.LastStep != 1 || len(f.Recovery) != 1 {
		t.Errorf("reseal changed more than the sealed bytes: %+v", f)
	}
	if w, _ := s.Webhook("wh"); !bytes.Equal(w.Secret, []byte("new-wh")) {
		t.Errorf("webhook secret %q", w.Secret)
	}
	if res := a.apply(&ResealValue{What: "password", UserID: 1, From: from("x"), Sealed: []byte("y")}); res.Code == "" {
		t.Error("an unknown kind of sealed value is accepted")
	}
	if FormatNeeded(&ResealValue{}) != FormatV3 {
		t.Error("ResealValue may enter the log below FormatV3")
	}
}
