package auth

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sessiond/sessiond/fsm"
)

// Recovery codes: ten single-use codes made when TOTP is confirmed (and
// on demand), shown once, stored only as keyed digests. A code is ten
// characters of a 32-letter alphabet without look-alikes (50 bits),
// shown as two groups of five; input is accepted in either case, with or
// without the dash or spaces.
const (
	RecoveryCodes   = 10
	recoveryCodeLen = 10
	recoveryAlpha   = "abcdefghjklmnpqrstuvwxyz23456789" // 32 symbols; 0, 1, i, o left out
)

// labelRecoveryMAC keys recovery-code digests, derived from each seal
// secret's backup MAC key under its own HKDF label: a snapshot or backup
// alone (without the seal secret) does not let anyone test candidate
// codes offline.
const labelRecoveryMAC = "sessiond/v1/recovery-code-mac"

// recoveryKeys are the keys a digest is made with (the first) and checked
// against (any): codes made before a seal rotation keep working.
func (s *Service) recoveryKeys() [][]byte {
	if s.seal == nil {
		return [][]byte{[]byte(labelRecoveryMAC)}
	}
	s.recKeysOnce.Do(func() {
		for _, mac := range s.seal.BackupMACKeys() {
			k, err := hkdf.Key(sha256.New, mac, nil, labelRecoveryMAC, 32)
			if err == nil {
				s.recKeys = append(s.recKeys, k)
			}
		}
	})
	return s.recKeys
}

// recoveryDigest is the keyed digest of a normalised code for uid; the
// user id is inside the MAC so a digest never matches another account.
func recoveryDigest(key []byte, uid uint64, code string) fsm.Digest {
	m := hmac.New(sha256.New, key)
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], uid)
	m.Write(id[:])
	m.Write([]byte(code))
	var d fsm.Digest
	copy(d[:], m.Sum(nil))
	return d
}

// normalizeRecovery folds case and drops dashes and spaces; ok is false
// for anything that cannot be a code (a wrong length or letter).
func normalizeRecovery(in string) (string, bool) {
	if len(in) > 4*recoveryCodeLen {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToLower(in) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(recoveryAlpha, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	return b.String(), b.Len() == recoveryCodeLen
}

// recoveryAD binds a sealed recovery-code key to its user.
func recoveryAD(uid uint64) string {
	return "sessiond recovery code key\x00" + strconv.FormatUint(uid, 10)
}

// newRecoveryCodes makes a fresh set for uid: the codes to show, their
// digests to store, and the sealed key the digests are made with. The
// key is random per set and sealed like a TOTP secret, so a seal rotation
// reseals it (ResealValues) and the codes outlive the old secret; a
// backup alone still cannot test candidates.
func (s *Service) newRecoveryCodes(uid uint64) ([]string, []fsm.Digest, []byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, nil, err
	}
	sealedKey, err := s.sealValue(recoveryAD(uid), key)
	if err != nil {
		return nil, nil, nil, err
	}
	codes := make([]string, RecoveryCodes)
	digests := make([]fsm.Digest, RecoveryCodes)
	buf := make([]byte, recoveryCodeLen)
	for i := range codes {
		if _, err := rand.Read(buf); err != nil {
			return nil, nil, nil, err
		}
		var b strings.Builder
		for j, c := range buf {
			if j == recoveryCodeLen/2 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlpha[c%32]) // 256 is a multiple of 32: no bias
		}
		codes[i] = b.String()
		norm, _ := normalizeRecovery(codes[i])
		digests[i] = recoveryDigest(key, uid, norm)
	}
	clear(key)
	return codes, digests, sealedKey, nil
}

// checkRecovery finds which stored digest code matches, comparing
// against every one in constant time; a miss is charged as a wrong code.
func (s *Service) checkRecovery(ctx context.Context, u *fsm.User, f *fsm.Factors, code, clientAddr string) (fsm.Digest, error) {
	norm, ok := normalizeRecovery(code)
	if !ok {
		return fsm.Digest{}, ErrBadOTPSyntax
	}
	now := s.cfg.Now()
	if ok, wait := s.limiter.Allow(clientAddr, now); !ok {
		s.guesses.throttled.Add(1)
		return fsm.Digest{}, &RetryError{Err: ErrThrottled, After: wait}
	}
	if budgetSpent(u, s.knownKey(clientAddr), now) {
		s.guesses.spent.Add(1)
		return fsm.Digest{}, ErrBadSecondFactor
	}
	keys := s.recoveryKeys() // a set made before per-set keys
	if len(f.RecoveryKey) > 0 {
		key, err := s.openValue(recoveryAD(u.ID), f.RecoveryKey)
		if err != nil {
			return fsm.Digest{}, err
		}
		defer clear(key)
		keys = [][]byte{key}
	}
	var found fsm.Digest
	hit := 0
	for _, key := range keys {
		d := recoveryDigest(key, u.ID, norm)
		for _, have := range f.Recovery {
			eq := subtle.ConstantTimeCompare(d[:], have[:])
			subtle.ConstantTimeCopy(eq, found[:], d[:])
			hit |= eq
		}
	}
	if hit == 0 {
		s.limiter.Fail(clientAddr, now)
		s.recordFailure(ctx, u, now)
		return fsm.Digest{}, ErrBadSecondFactor
	}
	return found, nil
}

// RegenerateRecoveryCodes replaces u's recovery codes with a new set:
// every code of the old set stops working at that index.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, u *fsm.User) ([]string, error) {
	if !s.HasSecondFactor(u.ID) {
		return nil, ErrNoTOTP
	}
	codes, digests, sealedKey, err := s.newRecoveryCodes(u.ID)
	if err != nil {
		return nil, err
	}
	if _, err := s.node.Apply(ctx, &fsm.SetRecoveryCodes{UserID: u.ID, Recovery: digests, Now: s.cfg.Now().UnixNano(), RecoveryKey: sealedKey}); err != nil {
		return nil, factorErr(err)
	}
	return codes, nil
}

// factorCounters count second-factor checks on this node by method and
// result, for sessiond_second_factor_checks_total.
type factorCounters struct {
	mu sync.Mutex
	n  map[[2]string]*atomic.Uint64
}

func (s *Service) countFactor(method string, err error) {
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, ErrBadOTPSyntax):
		result = "malformed"
	case errors.Is(err, ErrThrottled):
		result = "throttled"
	case errors.Is(err, fsm.ErrFactorUsed):
		result = "replayed"
	case errors.Is(err, ErrBadSecondFactor):
		result = "wrong"
	default:
		result = "error"
	}
	c := &s.factorChecks
	c.mu.Lock()
	if c.n == nil {
		c.n = make(map[[2]string]*atomic.Uint64)
	}
	k := [2]string{method, result}
	if c.n[k] == nil {
		c.n[k] = new(atomic.Uint64)
	}
	c.n[k].Add(1)
	c.mu.Unlock()
}

// SecondFactorChecks are the second-factor checks this node answered
// since start, keyed by {method, result}.
func (s *Service) SecondFactorChecks() map[[2]string]uint64 {
	c := &s.factorChecks
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[[2]string]uint64, len(c.n))
	for k, v := range c.n {
		out[k] = v.Load()
	}
	return out
}
