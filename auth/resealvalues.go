package auth

import (
	"context"
	"crypto/sha256"
	"log/slog"

	"github.com/sessiond/sessiond/fsm"
)

// ResealValues brings the sealed values that are not signing keys under
// the current seal secret, as ResealKeys does for the keyring: users'
// TOTP secrets (in force and pending), the keys of their recovery codes,
// and webhook signing secrets. Without it a cluster-key rotation, once
// the old key is removed, locks every user with a second factor out and
// leaves webhooks unsigned (TestRotation_ClusterKeyThreeNodeDrill). The
// leader runs it after ResealKeys; a value it cannot open is logged (by
// user or webhook id, never material) and left for a leader that can.
func (s *Service) ResealValues(ctx context.Context, log *slog.Logger) (resealed, stuck int) {
	sl := s.sealer()
	if sl == nil {
		return 0, 0
	}
	reseal := func(c *fsm.ResealValue, old []byte, open func() ([]byte, error), seal func([]byte) ([]byte, error)) bool {
		if len(old) == 0 || sl.Current(old) {
			return true
		}
		plain, err := open()
		if err != nil {
			stuck++
			log.Error("sealed value cannot be resealed: it is sealed under a secret this node does not hold; "+
				"give every node that secret as SESSIOND_SEAL_KEY_OLD (or SESSIOND_CLUSTER_KEY_OLD)",
				"what", c.What, "user_id", c.UserID, "webhook_id", c.WebhookID, "err", err)
			return true
		}
		c.Sealed, err = seal(plain)
		clear(plain)
		if err == nil {
			c.From = sha256.Sum256(old)
			_, err = s.node.Apply(ctx, c)
		}
		if err != nil {
			log.Warn("resealing a sealed value failed; the next leader retries", "what", c.What, "user_id", c.UserID, "webhook_id", c.WebhookID, "err", err)
			return false
		}
		resealed++
		return true
	}
	for _, f := range s.node.State().AllFactors() {
		uid := f.UserID
		for _, v := range []struct {
			what, ad string
			old      []byte
		}{
			{fsm.ResealTOTP, totpAD(uid), f.TOTP},
			{fsm.ResealTOTPPending, totpAD(uid), f.TOTPPending},
			{fsm.ResealRecoveryKey, recoveryAD(uid), f.RecoveryKey},
		} {
			ok := reseal(&fsm.ResealValue{What: v.what, UserID: uid}, v.old,
				func() ([]byte, error) { return s.openValue(v.ad, v.old) },
				func(p []byte) ([]byte, error) { return s.sealValue(v.ad, p) })
			if !ok {
				return resealed, stuck
			}
		}
	}
	for _, w := range s.node.State().Webhooks() {
		ok := reseal(&fsm.ResealValue{What: fsm.ResealWebhook, WebhookID: w.ID}, w.Secret,
			func() ([]byte, error) { return s.WebhookSecret(w) },
			func(p []byte) ([]byte, error) { return s.sealWebhookSecret(w, p) })
		if !ok {
			return resealed, stuck
		}
	}
	if resealed > 0 || stuck > 0 {
		log.Info("sealed values resealed under the current seal secret", "resealed", resealed, "stuck", stuck)
	}
	return resealed, stuck
}
