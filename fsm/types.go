package fsm

import "errors"

// Digest is the SHA-256 digest of a token. Only digests are stored: the
// token itself never enters the log, a snapshot or memory at rest.
type Digest [32]byte

// Kind says which dialect minted a session. The numbers are stored in the
// log and in snapshots, so they are explicit and never reused.
type Kind uint8

// Session kinds.
const (
	KindNative Kind = 1 // /v1 bearer token
	KindOdoo   Kind = 2 // Odoo session id (40 hex)
	KindJWT    Kind = 3 // Odoo RESTful JWT; the digest is of the jti
	KindKnox   Kind = 4 // knox-style token
)

// String names the kind for listings and metrics labels.
func (k Kind) String() string {
	switch k {
	case KindNative:
		return "native"
	case KindOdoo:
		return "odoo"
	case KindJWT:
		return "jwt"
	case KindKnox:
		return "knox"
	}
	return "unknown"
}

// User is one account. Values reachable from State are immutable: Apply
// replaces the pointer rather than editing in place, so readers need no lock
// once they hold it. All times are Unix nanoseconds stamped before the log.
type User struct {
	ID           uint64 `json:"id"`
	DB           string `json:"db"`
	Login        string `json:"login"` // case-folded by the caller
	Email        string `json:"email,omitempty"`
	Name         string `json:"name,omitempty"`
	CompanyID    uint64 `json:"company_id,omitempty"`
	CompanyName  string `json:"company_name,omitempty"`
	PasswordHash string `json:"password_hash"`   // PHC string, never a password
	Admin        bool   `json:"admin,omitempty"` // admin of DB only
	// Operator is the cluster operator role (membership, backup, restore,
	// settings, keys, every db). Set only at FormatOperator (format.go):
	// binaries before it ignore the field.
	Operator bool `json:"operator,omitempty"`
	Disabled bool `json:"disabled,omitempty"`
	// EmailUnverified marks an address nobody vouched for: a stranger's
	// self-registration (/api/register) typed it. Forward auth does not
	// pass it on (an app that links accounts by Remote-Email would log the
	// registrant in as the address's owner) until an admin verifies it.
	// Set only at FormatV3 (format.go, emailverify.go).
	EmailUnverified bool   `json:"email_unverified,omitempty"`
	Created         int64  `json:"created"`
	PasswordChanged int64  `json:"password_changed"`
	Version         uint64 `json:"version"` // bumped on password change
	FailedLogins    uint32 `json:"failed_logins,omitempty"`
	LastFailure     int64  `json:"last_failure,omitempty"`
	LockedUntil     int64  `json:"locked_until,omitempty"`
	Nonce           string `json:"nonce,omitempty"` // the create request's ID, for idempotent retries
	// KnownAddrs are the client networks that logged in to the account,
	// most recent first, at most MaxKnownAddrs (see CreateSession.TrustAddr).
	KnownAddrs []string `json:"known_addrs,omitempty"`
}

// MaxKnownAddrs bounds User.KnownAddrs: enough for a person's devices and
// networks, small enough that the user record stays small.
const MaxKnownAddrs = 8

// Knows reports whether addr is one of the account's known client networks.
func (u *User) Knows(addr string) bool {
	for _, a := range u.KnownAddrs {
		if a == addr {
			return true
		}
	}
	return false
}

// Session is one live login. Immutable once stored, like User.
type Session struct {
	ID          string `json:"id"`     // public identifier, safe to list and log
	Digest      Digest `json:"digest"` // SHA-256 of the secret token (of the jti for JWTs)
	Kind        Kind   `json:"kind"`
	UserID      uint64 `json:"user_id"`
	DB          string `json:"db"`
	Created     int64  `json:"created"`
	ExpiresAt   int64  `json:"expires_at,omitempty"`   // 0 = never (knox "expiry": null)
	IdleTimeout int64  `json:"idle_timeout,omitempty"` // nanoseconds; 0 = no idle expiry
	LastRefresh int64  `json:"last_refresh,omitempty"`
	Name        string `json:"name,omitempty"` // device or client name given at login
	UserAgent   string `json:"user_agent,omitempty"`
	ClientAddr  string `json:"client_addr,omitempty"`
	// AuthTime and AMR (amr.go) say when and how the user proved who
	// they are (OpenID Connect's auth_time and amr). Set only at
	// FormatV3; zero in sessions made before (see AuthAt, Methods).
	AuthTime int64 `json:"auth_time,omitempty"`
	AMR      AMR   `json:"amr,omitempty"`
	// AppPassword is the id of the app password the session was made
	// with (CreateSession.AppPassword), so revoking it ends the session
	// too (apppasswords.go). FormatV3, like the command that sets it.
	AppPassword string `json:"app_password,omitempty"`
}

// Expired reports whether the session is over at now (Unix nanoseconds),
// by its absolute or its idle lifetime. Callers pass their own clock: the
// FSM never reads one.
func (s *Session) Expired(now int64) bool {
	if s.ExpiresAt != 0 && now >= s.ExpiresAt {
		return true
	}
	return s.IdleTimeout != 0 && now >= s.LastRefresh+s.IdleTimeout
}

// Node is the metadata a member publishes so that followers can forward
// writes to the leader's API address.
type Node struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	// Format is the highest log and snapshot format the member's binary
	// understands (format.go); absent (0) for binaries before formats and
	// for members that never announced themselves.
	Format int `json:"format,omitempty"`
	// Promote asks the leader to make this non-voter a voter once it has
	// caught up (cluster's promoter); false for members that asked to
	// stay non-voters and for those an operator demoted.
	Promote bool `json:"promote,omitempty"`
}

// SigningKey is one JWT key of the replicated keyring. Secret holds the HMAC
// key or the DER private key: signing keys are replicated on purpose so that
// every node can sign and verify; they are not passwords nor tokens.
type SigningKey struct {
	Kid     string `json:"kid"`
	Alg     string `json:"alg"`
	Secret  []byte `json:"secret"`
	Public  []byte `json:"public,omitempty"`
	Created int64  `json:"created"`
	Retired int64  `json:"retired,omitempty"`
	// Revoked, when set, refuses every token the key signed at once (a
	// compromised key); a key only retired verifies for a grace period.
	Revoked int64 `json:"revoked,omitempty"`
}

// Settings are the cluster-wide tunables changed through the admin API.
// Durations are nanoseconds so the struct stays plain data.
type Settings struct {
	SignupEnabled     bool   `json:"signup_enabled"`
	TokenLimitPerUser int    `json:"token_limit_per_user"` // 0 = unlimited
	LockoutThreshold  int    `json:"lockout_threshold"`
	LockoutDuration   int64  `json:"lockout_duration"`
	OdooTTL           int64  `json:"odoo_ttl"`
	OdooIdle          int64  `json:"odoo_idle"`
	JWTTTL            int64  `json:"jwt_ttl"`
	KnoxTTL           int64  `json:"knox_ttl"` // 0 = no expiry, as knox's default
	NativeTTL         int64  `json:"native_ttl"`
	NativeIdle        int64  `json:"native_idle"`
	JWTActiveKid      string `json:"jwt_active_kid,omitempty"`
	// MaxSessionsPerUser caps the sessions of every kind one user holds
	// unexpired at once (0 = unlimited). TokenLimitPerUser stays knox's
	// own TOKEN_LIMIT_PER_USER. See DefaultMaxSessionsPerUser.
	MaxSessionsPerUser int `json:"max_sessions_per_user,omitempty"`

	// Dialect behaviours of upstream settings (docs/DIALECTS.md). Each zero
	// value keeps the answer sessiond gave before the field existed.
	KnoxAutoRefresh        bool   `json:"knox_auto_refresh,omitempty"`         // knox AUTO_REFRESH: a use slides ExpiresAt to use+KnoxTTL
	KnoxMinRefreshInterval int64  `json:"knox_min_refresh_interval,omitempty"` // ns; knox MIN_REFRESH_INTERVAL (upstream default 60 s)
	KnoxTokenPrefix        string `json:"knox_token_prefix,omitempty"`         // knox TOKEN_PREFIX, at most 10 characters
	KnoxUserSerializer     string `json:"knox_user_serializer,omitempty"`      // "" = no "user" in the login answer; "user" = id, username, email, first_name, last_name
	OdooVersion            string `json:"odoo_version,omitempty"`              // session_info shape: "13.0", "14.0" or "15.0" ("" = 15.0)
	OdooWebBaseURL         string `json:"odoo_web_base_url,omitempty"`         // web.base.url; "" = the request's scheme and host
	OdooActiveIdsLimit     int    `json:"odoo_active_ids_limit,omitempty"`     // web.active_ids_limit; 0 = Odoo's 20000
	JWTDialectKid          string `json:"jwt_dialect_kid,omitempty"`
	// JWTRetiredGrace is how long a retired key keeps verifying the tokens
	// it signed (ns); 0 = the JWT lifetime (JWTTTL, else 30 days), the
	// longest any of them can live.
	JWTRetiredGrace int64 `json:"jwt_retired_grace,omitempty"` // the Odoo JWT dialect's signing key; "" = the shared-secret HMAC key
	// DialectPasswordWith2FA lets the seed dialects sign in an account
	// that has a second factor, or that the policy below covers, with its
	// password alone (they cannot carry a code); off, they take only app
	// passwords, and only of an account with a second factor. Needs FormatV3.
	DialectPasswordWith2FA bool `json:"dialect_password_with_2fa,omitempty"`
	// Require2FAAdmins and Require2FADBs (comma-separated, so Settings
	// stays comparable): admins, and users of these dbs, need a second
	// factor (SecondFactorRequired): forward auth admits them only with a
	// two-factor session, /v1 limits their other sessions to enrolment,
	// the seed dialects refuse them without one. Need FormatV3.
	Require2FAAdmins bool   `json:"require_2fa_admins,omitempty"`
	Require2FADBs    string `json:"require_2fa_dbs,omitempty"`
}

// DefaultMaxSessionsPerUser is the session cap a new cluster starts with.
// A person with every browser and device logged in holds tens of
// sessions; 100 leaves room for that while bounding what one account (a
// script logging in without logging out, a stolen password) can add to
// every replica's memory and snapshots: about 100 × 300 bytes per user.
// A settings record written by a binary without the field (a snapshot's
// meta, a SetSettings entry) reads as 0, no cap: an upgraded cluster keeps
// its old behaviour until an admin sets it, so replaying its log after a
// snapshot or a settings change never refuses what it once accepted. (A
// log replayed from index 0 that never changed the settings starts from
// these defaults, as a new cluster does.)
const DefaultMaxSessionsPerUser = 100

const day = int64(24 * 3600 * 1e9)

// DefaultSettings are the values a new cluster starts with.
func DefaultSettings() Settings {
	return Settings{
		SignupEnabled:     false,
		TokenLimitPerUser: 0,
		LockoutThreshold:  5,
		LockoutDuration:   15 * 60 * 1e9,
		OdooTTL:           90 * day,
		OdooIdle:          7 * day,
		JWTTTL:            30 * day,
		KnoxTTL:           0,
		NativeTTL:         30 * day,
		NativeIdle:        0,

		MaxSessionsPerUser: DefaultMaxSessionsPerUser,
	}
}

// Business failures of Apply. They are results, not panics: the command was
// applied (as a no-op) on every node alike. Each has a stable code so that it
// survives the forwarding hop from the leader to the follower that asked.
var (
	ErrUserExists      = errors.New("fsm: user already exists")
	ErrUserNotFound    = errors.New("fsm: user not found")
	ErrUserDisabled    = errors.New("fsm: user disabled")
	ErrSessionNotFound = errors.New("fsm: session not found")
	ErrSessionConflict = errors.New("fsm: session id conflict")
	ErrSessionLimit    = errors.New("fsm: session limit reached: the user holds as many sessions as the settings allow; log out of one first")
	ErrEmailExists     = errors.New("fsm: e-mail address already used by another account of the db")
	ErrStaleUser       = errors.New("fsm: user changed since the request was checked")
	ErrKeyNotFound     = errors.New("fsm: key not found")
	ErrKeyExists       = errors.New("fsm: key already exists")
	ErrBadCommand      = errors.New("fsm: invalid command")
)

var errCodes = map[error]string{
	ErrUserExists:      "user_exists",
	ErrUserNotFound:    "user_not_found",
	ErrUserDisabled:    "user_disabled",
	ErrSessionNotFound: "session_not_found",
	ErrSessionConflict: "session_conflict",
	ErrSessionLimit:    "session_limit",
	ErrEmailExists:     "email_exists",
	ErrStaleUser:       "user_changed",
	ErrKeyNotFound:     "key_not_found",
	ErrKeyExists:       "key_exists",
	ErrBadCommand:      "bad_command",
}

// Result is what Apply returns for every command. It is plain data so that a
// leader can send it back to the follower that forwarded the command.
type Result struct {
	Code      string `json:"code,omitempty"` // "" = success
	UserID    uint64 `json:"user_id,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	Count     int    `json:"count,omitempty"`
	Index     uint64 `json:"index,omitempty"` // the log index it was applied at
}

// Err turns the result's code back into the package's sentinel error.
func (r Result) Err() error {
	if r.Code == "" {
		return nil
	}
	code := r.Code
	if code == "stale_user" { // what binaries before the one vocabulary sent over the hop
		code = "user_changed"
	}
	for err, c := range errCodes {
		if c == code {
			return err
		}
	}
	return errors.New("fsm: " + r.Code)
}

// ErrorCode is the stable code of an fsm business failure, "" for any
// other error. The API answers with the same code.
func ErrorCode(err error) string {
	for e, c := range errCodes {
		if errors.Is(err, e) {
			return c
		}
	}
	return ""
}

func fail(err error) Result { return Result{Code: errCodes[err]} }
