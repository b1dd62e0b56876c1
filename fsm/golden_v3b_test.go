package fsm

import (
	"crypto/sha256"
	"testing"
)

// goldenV3b is the second FormatV3 golden file, for what landed after
// goldenV3 was written: passkeys (record 14: registered, renamed, used,
// one removed), a recovery-code set keyed by its own sealed key
// (Factors.RecoveryKey) and that key resealed under a new seal secret
// (ResealValue). Written once with -update-golden and never regenerated.
const goldenV3b = "testdata/snapshot-v1-format3b.golden"

// goldenV3bState is the log behind goldenV3b.
func goldenV3bState(t testing.TB) *applier {
	a := &applier{t: t, f: New()}
	a.must(&SetClusterFormat{Level: FormatV3})
	a.must(&CreateUser{Nonce: "req-1", DB: "acme", Login: "carol", PasswordHash: "hash-carol", Now: t0})
	a.must(&PutPasskey{UserID: 1, Passkey: Passkey{ID: []byte{0x01, 0x02}, PublicKey: []byte("cose-key-1"), SignCount: 3,
		AAGUID: []byte("aaguid-16-bytes!"), Transports: []string{"internal", "hybrid"}, Flags: 0x1d, AttType: "none",
		Name: "laptop", Created: t0 + minute}})
	a.must(&PutPasskey{UserID: 1, Passkey: Passkey{ID: []byte{0x03}, PublicKey: []byte("cose-key-2"), Name: "phone", Created: t0 + 2*minute}})
	a.must(&RenamePasskey{UserID: 1, ID: []byte{0x01, 0x02}, Name: "work laptop"})
	a.must(&PasskeyUse{UserID: 1, ID: []byte{0x01, 0x02}, SignCount: 7, Now: t0 + 3*minute})
	a.must(&DeletePasskey{UserID: 1, ID: []byte{0x03}})
	a.must(&TOTPEnrol{UserID: 1, Secret: []byte("sealed-totp")})
	a.must(&TOTPConfirm{UserID: 1, Pending: Digest(dg("sealed-totp")), Step: 7, Recovery: []Digest{dg("rc-a"), dg("rc-b")},
		Now: t0 + 4*minute, RecoveryKey: []byte("sealed-recovery-key-old")})
	a.must(&ResealValue{What: ResealRecoveryKey, UserID: 1, From: sha256.Sum256([]byte("sealed-recovery-key-old")),
		Sealed: []byte("sealed-recovery-key-new")})
	return a
}

// TestGoldenV3b_Generate writes goldenV3b with -update-golden, once.
func TestGoldenV3b_Generate(t *testing.T) {
	generateGolden(t, goldenV3b, goldenV3bState)
}

// TestGoldenV3b_Restores restores goldenV3b and checks it against
// literals, then that it writes back the very bytes it read.
func TestGoldenV3b_Restores(t *testing.T) {
	f, b, eq := readGolden(t, goldenV3b)
	s := f.State()
	eq("AppliedIndex", uint64(10), f.AppliedIndex())
	eq("Passkeys(1)", &Passkeys{UserID: 1, Keys: []Passkey{{ID: []byte{0x01, 0x02}, PublicKey: []byte("cose-key-1"), SignCount: 7,
		AAGUID: []byte("aaguid-16-bytes!"), Transports: []string{"internal", "hybrid"}, Flags: 0x1d, AttType: "none",
		Name: "work laptop", Created: t0 + minute, LastUsed: t0 + 3*minute}}}, s.Passkeys(1))
	fa := s.Factors(1)
	if fa == nil {
		t.Fatal("carol's factors missing")
	}
	eq("RecoveryKey", []byte("sealed-recovery-key-new"), fa.RecoveryKey)
	eq("Recovery", []Digest{dg("rc-a"), dg("rc-b")}, fa.Recovery)
	eq("TOTP", []byte("sealed-totp"), fa.TOTP)
	if again := snapshotBytes(t, f); string(again) != string(b) {
		t.Error("restored golden state writes different bytes")
	}
}

// TestGoldenV3b_WriterUnchanged: today's binary, applying the same log,
// writes the same bytes.
func TestGoldenV3b_WriterUnchanged(t *testing.T) {
	writerUnchanged(t, goldenV3b, goldenV3bState)
}
