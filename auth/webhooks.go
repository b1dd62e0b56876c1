package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond/fsm"
)

// Webhook subscriptions (fsm/webhooks.go): created, changed and removed
// here, delivered by internal/webhook on the leader. A subscription's
// signing secret is random, shown once ("whsec_" and base64, the Standard
// Webhooks form) and kept in the replicated state only sealed, like the
// JWT keys, so that whichever node leads can sign.

// Webhook errors.
var (
	ErrWebhookNotFound = errors.New("auth: webhook not found")
	ErrBadEventType    = errors.New("auth: unknown event type")
	// ErrNoLogoutKey: back-channel logout tokens are verified with the
	// JWKS, so they need an asymmetric key (EdDSA, RS256) in the keyring.
	ErrNoLogoutKey = errors.New("auth: back-channel logout needs an asymmetric (EdDSA or RS256) signing key in the keyring")
)

// SecretPrefix starts every webhook secret as shown to its owner.
const SecretPrefix = "whsec_"

// webhookSecretLen is the random bytes of a secret (Standard Webhooks
// asks for 24 to 64).
const webhookSecretLen = 32

// sealWebhookAlg is the alg a sealed webhook secret is bound to (the AEAD's
// associated data, with "webhook:"+id as kid): sealed material moved to
// another subscription, or to the keyring, does not open.
const sealWebhookAlg = "whsec"

// NewWebhook is a subscription to create.
type NewWebhook struct {
	DB     string // "" = every db (the operator's)
	URL    string
	Events []string // empty = every type
}

// CreateWebhook registers a Standard Webhooks subscription and returns
// it with its secret, shown this once. The URL has been checked by the
// caller (internal/webhook.CheckURL).
func (s *Service) CreateWebhook(ctx context.Context, nw NewWebhook) (*fsm.Webhook, string, error) {
	if err := checkEventTypes(nw.Events); err != nil {
		return nil, "", err
	}
	if nw.DB != "" && !s.node.State().HasDB(nw.DB) {
		return nil, "", ErrUnknownDB
	}
	id, err := NewID()
	if err != nil {
		return nil, "", err
	}
	raw := make([]byte, webhookSecretLen)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", fmt.Errorf("auth: reading randomness: %w", err)
	}
	w := fsm.Webhook{ID: "wh_" + id, DB: nw.DB, URL: nw.URL, Events: nw.Events,
		Format: fsm.FormatStandardWebhooks, Created: s.cfg.Now().UnixNano()}
	if w.Secret, err = s.sealWebhookSecret(&w, raw); err != nil {
		return nil, "", err
	}
	if _, err := s.node.Apply(ctx, &fsm.PutWebhook{Webhook: w}); err != nil {
		return nil, "", err
	}
	got, _ := s.node.State().Webhook(w.ID)
	if got == nil {
		got = &w
	}
	return got, SecretPrefix + base64.StdEncoding.EncodeToString(raw), nil
}

// WebhookChange is a change to a subscription; nil fields stay.
type WebhookChange struct {
	URL    *string
	Events *[]string
	Paused *bool
}

// UpdateWebhook changes a subscription (its cursor and secret stay);
// unpausing resumes delivery from the cursor.
func (s *Service) UpdateWebhook(ctx context.Context, id string, ch WebhookChange) (*fsm.Webhook, error) {
	old, ok := s.node.State().Webhook(id)
	if !ok {
		return nil, ErrWebhookNotFound
	}
	w := *old
	w.Secret = nil // kept by Apply
	if ch.URL != nil {
		w.URL = *ch.URL
	}
	if ch.Events != nil {
		if err := checkEventTypes(*ch.Events); err != nil {
			return nil, err
		}
		w.Events = *ch.Events
	}
	if ch.Paused != nil {
		w.Paused = *ch.Paused
		if w.Paused && !old.Paused {
			w.PauseReason, w.PausedAt = "paused by an admin", s.cfg.Now().UnixNano()
		}
	}
	if _, err := s.node.Apply(ctx, &fsm.PutWebhook{Webhook: w}); err != nil {
		return nil, err
	}
	got, ok := s.node.State().Webhook(id)
	if !ok {
		return nil, ErrWebhookNotFound
	}
	return got, nil
}

// DeleteWebhook removes a subscription.
func (s *Service) DeleteWebhook(ctx context.Context, id string) error {
	res, err := s.node.Apply(ctx, &fsm.DeleteWebhook{ID: id})
	if err == nil && res.Count == 0 {
		return ErrWebhookNotFound
	}
	return err
}

// Webhooks lists the subscriptions (secrets sealed; never shown).
func (s *Service) Webhooks() []*fsm.Webhook { return s.node.State().Webhooks() }

// Webhook returns one subscription.
func (s *Service) Webhook(id string) (*fsm.Webhook, bool) { return s.node.State().Webhook(id) }

// SetBackchannelLogout registers (uri non-empty) or removes a service
// client's back-channel logout URI: a subscription to the ended sessions
// of the client's db (every db for a cluster-wide client), delivered as
// logout tokens addressed to the client.
func (s *Service) SetBackchannelLogout(ctx context.Context, clientID, uri string) error {
	c, ok := s.node.State().Client(clientID)
	if !ok {
		return ErrBadClient
	}
	id := "bcl_" + c.ID
	if uri == "" {
		_, err := s.node.Apply(ctx, &fsm.DeleteWebhook{ID: id})
		return err
	}
	w := fsm.Webhook{ID: id, DB: c.DB, URL: uri, Format: fsm.FormatBackchannelLogout, ClientID: c.ID,
		Events: []string{fsm.EventSessionEnded}, Created: s.cfg.Now().UnixNano()}
	_, err := s.node.Apply(ctx, &fsm.PutWebhook{Webhook: w})
	return err
}

// CommitWebhooks is the dispatcher's door to the state: delivered
// cursors and pauses, batched.
func (s *Service) CommitWebhooks(ctx context.Context, c *fsm.AdvanceWebhooks) error {
	_, err := s.node.Apply(ctx, c)
	return err
}

func checkEventTypes(types []string) error {
	if len(types) > len(fsm.EventTypes) {
		return ErrBadEventType
	}
	for _, t := range types {
		if !slices.Contains(fsm.EventTypes, t) {
			return fmt.Errorf("%w %q", ErrBadEventType, t)
		}
	}
	return nil
}

func webhookKey(w *fsm.Webhook, secret []byte) Key {
	return Key{Kid: "webhook:" + w.ID, Alg: sealWebhookAlg, Secret: secret, Created: w.Created}
}

func (s *Service) sealWebhookSecret(w *fsm.Webhook, raw []byte) ([]byte, error) {
	sl := s.sealer()
	if sl == nil {
		return raw, nil
	}
	k, err := sl.Seal(webhookKey(w, raw))
	if err != nil {
		return nil, err
	}
	return k.Secret, nil
}

// WebhookSecret opens a subscription's signing secret.
func (s *Service) WebhookSecret(w *fsm.Webhook) ([]byte, error) {
	if len(w.Secret) == 0 {
		return nil, fmt.Errorf("auth: webhook %s has no secret", w.ID)
	}
	k, err := s.unseal(keyToFSM(webhookKey(w, w.Secret)))
	if err != nil {
		return nil, err
	}
	return k.Secret, nil
}

// LogoutTokenTTL is a logout token's lifetime: the spec recommends a
// short one (at most two minutes here), since the token is sent at once.
const LogoutTokenTTL = 2 * time.Minute

// backchannelEvent is the events claim's member (OIDC Back-Channel Logout
// 1.0, section 2.4).
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutToken signs an OpenID Connect Back-Channel Logout token for an
// ended session: typ logout+jwt, iss, aud (the client), iat, exp, a fresh
// jti, sub (the user id), sid (the session's public id) and the events
// claim; never a nonce. It is signed by the active key when that is
// asymmetric, else by the newest asymmetric key not retired, so relying
// parties verify it with the JWKS.
func (s *Service) LogoutToken(iss, aud string, e *fsm.Event, now time.Time) (string, error) {
	key, err := s.logoutKey()
	if err != nil {
		return "", err
	}
	sk, err := key.signingKey()
	if err != nil {
		return "", err
	}
	jti, err := NewID()
	if err != nil {
		return "", err
	}
	claims := jwt.MapClaims{
		"iss": iss, "aud": aud, "iat": now.Unix(), "exp": now.Add(LogoutTokenTTL).Unix(), "jti": jti,
		"sub": strconv.FormatUint(e.UserID, 10), "sid": e.SessionID,
		"events": map[string]any{backchannelEvent: map[string]any{}},
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(key.Alg), claims)
	tok.Header["kid"] = key.Kid
	tok.Header["typ"] = "logout+jwt"
	return tok.SignedString(sk)
}

func (s *Service) logoutKey() (Key, error) {
	st := s.node.State()
	if k, ok := st.Key(st.Settings().JWTActiveKid); ok && k.Retired == 0 && !isHMAC(k.Alg) {
		return s.unseal(k)
	}
	var best *fsm.SigningKey
	for _, k := range st.Keys() { // oldest first
		if k.Retired == 0 && !isHMAC(k.Alg) {
			best = &k
		}
	}
	if best == nil {
		return Key{}, ErrNoLogoutKey
	}
	return s.unseal(*best)
}

// EventsAfter reads the node's event log (fsm.State.EventsAfter).
func (s *Service) EventsAfter(after fsm.EventID, max int) ([]fsm.Event, fsm.EventID, error) {
	return s.node.State().EventsAfter(after, max)
}

// EventBounds are the node's oldest kept, newest dropped and newest event.
func (s *Service) EventBounds() (oldest, dropped, last fsm.EventID) {
	return s.node.State().EventBounds()
}

// EventState is the node's current state, for the dispatcher's reads.
func (s *Service) EventState() *fsm.State { return s.node.State() }
