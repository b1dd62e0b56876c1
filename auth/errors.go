package auth

import "errors"

// Sentinel errors of this package. Callers compare with errors.Is and map
// them to status codes in one place (package api); the messages are never
// shown with a secret attached.
var (
	// ErrBadHash means a stored password hash could not be parsed, uses an
	// unknown scheme, or carries parameters outside the safe bounds.
	ErrBadHash = errors.New("auth: malformed or unsupported password hash")
	// ErrBadHashParams means HashParams are out of bounds for hashing.
	ErrBadHashParams = errors.New("auth: invalid hash parameters")
	// ErrPasswordTooShort means a password has fewer runes than the policy minimum.
	ErrPasswordTooShort = errors.New("auth: password too short")
	// ErrPasswordTooLong means a password has more bytes than the policy maximum.
	ErrPasswordTooLong = errors.New("auth: password too long")
	// ErrPasswordInvalid means a password is not valid UTF-8 or contains NUL.
	ErrPasswordInvalid = errors.New("auth: password contains invalid characters")
	// ErrPoolSaturated means the hashing pool had no free worker and either
	// no free waiting slot or no worker freed up within MaxWait.
	ErrPoolSaturated = errors.New("auth: hashing pool saturated")
	// ErrBadConfig means a Config/Policy failed Validate.
	ErrBadConfig = errors.New("auth: invalid configuration")
	// ErrWeakKey means JWT key material is shorter than 256 bits (HMAC) or
	// 2048 bits (RSA).
	ErrWeakKey = errors.New("auth: key too weak")
	// ErrBadKey means JWT key material is malformed or does not match its
	// algorithm.
	ErrBadKey = errors.New("auth: malformed signing key")
	// ErrUnsupportedAlg means a JWT algorithm other than HS256, HS384,
	// HS512, EdDSA or RS256 was asked for.
	ErrUnsupportedAlg = errors.New("auth: unsupported jwt algorithm")
	// ErrBadClaims means claims handed to SignJWT are incomplete
	// (no exp, no jti, exp not after iat).
	ErrBadClaims = errors.New("auth: invalid jwt claims")
	// ErrUnknownKey means a JWT names a kid the keyring does not hold (or
	// names none). Errors carrying it also wrap ErrInvalidJWT.
	ErrUnknownKey = errors.New("auth: unknown jwt key id")
	// ErrInvalidJWT is wrapped by every JWT verification failure.
	ErrInvalidJWT = errors.New("auth: invalid jwt")

	// Login-flow failures. ErrThrottled values carry a retry-after (see
	// RetryError). There is no "account locked": a spent guess budget is
	// answered as ErrBadCredentials (see Authenticate).
	ErrBadCredentials = errors.New("auth: bad credentials")
	ErrThrottled      = errors.New("auth: too many attempts")
	ErrUnknownDB      = errors.New("auth: unknown database")
	ErrDBRequired     = errors.New("auth: database must be given")

	// Account management.
	// ErrSignupDisabled means self-registration is off in the settings.
	ErrSignupDisabled = errors.New("auth: signup is disabled")
	// ErrLoginTaken means a registration names a login that exists.
	ErrLoginTaken = errors.New("auth: login already taken")
	// ErrNotVisible means a write was committed but this node has not
	// applied it yet (a brief unavailability: retry).
	ErrNotVisible = errors.New("auth: the change is not visible on this node yet")

	// The signing keyring.
	// ErrNoSigningKey means the keyring has no active key to sign JWTs
	// with (a cluster still seeding, or an admin retired the active key).
	ErrNoSigningKey = errors.New("auth: no active jwt signing key")
	// ErrActiveKey means an admin tried to retire the key in use.
	ErrActiveKey = errors.New("auth: the active key cannot be retired")
)
