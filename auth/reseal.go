package auth

import (
	"context"
	"crypto/sha256"
	"log/slog"

	"github.com/sessiond/sessiond/fsm"
)

// ResealKeys brings every key of the keyring under the current seal
// secret: keys written in the clear (a log or snapshot from before
// sealing) and keys sealed under an old secret (SESSIOND_SEAL_KEY_OLD)
// are opened and sealed again, one ResealKey command each. The node runs
// it on becoming leader, so after a rotation the data dir soon holds
// nothing the old secret opens. It returns how many keys it resealed and
// how many it could not open; both are logged (kids only, never
// material). Without a sealer it does nothing.
func (s *Service) ResealKeys(ctx context.Context, log *slog.Logger) (resealed, stuck int) {
	sl := s.sealer()
	if sl == nil {
		return 0, 0
	}
	for _, sk := range s.node.State().Keys() {
		if sl.Current(sk.Secret) {
			continue
		}
		from := "clear"
		if IsSealed(sk.Secret) {
			from = "old seal secret"
		}
		k, err := sl.Unseal(sk)
		if err != nil {
			stuck++
			log.Error("JWT key cannot be resealed: it is sealed under a secret this node does not hold; "+
				"give every node that secret as SESSIOND_SEAL_KEY_OLD", "kid", sk.Kid, "err", err)
			continue
		}
		sealed, err := sl.Seal(k)
		if err == nil {
			_, err = s.node.Apply(ctx, &fsm.ResealKey{Kid: sk.Kid, From: sha256.Sum256(sk.Secret), Secret: sealed.Secret})
		}
		if err != nil {
			log.Warn("resealing JWT key failed; the next leader retries", "kid", sk.Kid, "err", err)
			return resealed, stuck
		}
		resealed++
		log.Info("JWT key resealed", "kid", sk.Kid, "from", from)
	}
	return resealed, stuck
}
