package client

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinels for the common error codes. An *Error unwraps to the sentinel
// of its code (and every 503 also to ErrUnavailable), so callers write
// errors.Is(err, client.ErrInvalidToken).
var (
	ErrBadCredentials = errors.New("client: bad credentials")
	ErrNoCredentials  = errors.New("client: no credentials")
	ErrInvalidToken   = errors.New("client: invalid or expired token")
	ErrForbidden      = errors.New("client: forbidden")
	ErrNotFound       = errors.New("client: not found")
	ErrUserExists     = errors.New("client: user exists")
	ErrConflict       = errors.New("client: conflict")
	ErrBadRequest     = errors.New("client: bad request")
	ErrLocked         = errors.New("client: account locked")
	ErrThrottled      = errors.New("client: too many attempts")
	ErrNoLeader       = errors.New("client: no leader")
	ErrUnavailable    = errors.New("client: service unavailable")
	ErrInternal       = errors.New("client: internal server error")
	// ErrUpgrading: the change needs a format some member does not
	// understand yet (a rolling upgrade under way); it also unwraps to
	// ErrUnavailable, but retrying helps only once every member runs the
	// new binary.
	ErrUpgrading = errors.New("client: cluster upgrading")
	// ErrSecondFactorRequired: the password was right and the account
	// needs an "otp" or "recovery_code" too; ErrBadSecondFactor: that
	// code was wrong or already used; ErrStepUp: sign in again first.
	ErrSecondFactorRequired = errors.New("client: second factor required")
	ErrBadSecondFactor      = errors.New("client: second factor not accepted")
	ErrStepUp               = errors.New("client: a more recent sign-in is needed")

	// ErrUnknownOutcome means a non-idempotent write was sent but the
	// connection broke before an answer came: it may have been applied.
	ErrUnknownOutcome = errors.New("client: outcome unknown")
	// ErrNoAddrs means the client was built without any base URL.
	ErrNoAddrs = errors.New("client: no addresses")
)

// codeSentinels reverses the server's error table: each stable code to the
// sentinel it is compared with. Codes not listed fall back on the status
// (see statusSentinel).
var codeSentinels = map[string]error{
	"bad_credentials":   ErrBadCredentials,
	"no_credentials":    ErrNoCredentials,
	"invalid_token":     ErrInvalidToken,
	"forbidden":         ErrForbidden,
	"user_disabled":     ErrForbidden,
	"session_limit":     ErrForbidden,
	"not_found":         ErrNotFound,
	"user_not_found":    ErrNotFound,
	"session_not_found": ErrNotFound,
	"key_not_found":     ErrNotFound,
	"unknown_node":      ErrNotFound,
	"user_exists":       ErrUserExists,
	"email_exists":      ErrConflict,
	"user_changed":      ErrConflict,
	"session_conflict":  ErrConflict,
	"key_exists":        ErrConflict,
	"member_exists":     ErrConflict,
	"only_voter":        ErrConflict,
	"admin_exists":      ErrConflict,
	"dialect_key":       ErrConflict,
	"account_locked":    ErrLocked, // servers before the guess budget
	"throttled":         ErrThrottled,
	"no_leader":         ErrNoLeader,
	"not_leader":        ErrNoLeader,
	"internal":          ErrInternal,
	"bad_cluster_key":   ErrForbidden,

	// Requests the server could not take as sent: fix and resend.
	"bad_json": ErrBadRequest, "missing_field": ErrBadRequest, "invalid_field": ErrBadRequest,
	"body_too_large": ErrBadRequest, "unsupported_media_type": ErrBadRequest, "method_not_allowed": ErrBadRequest,
	"unknown_db": ErrBadRequest, "db_required": ErrBadRequest, "invalid_login": ErrBadRequest,
	"password_too_short": ErrBadRequest, "password_too_long": ErrBadRequest, "password_invalid": ErrBadRequest,
	"bad_command": ErrBadRequest, "bad_consistency": ErrBadRequest, "bad_backup": ErrBadRequest,
	"bad_request": ErrBadRequest, "active_key": ErrBadRequest, "bad_hash": ErrBadRequest,

	// Brief unavailability: retry, on this node or another.
	"busy": ErrUnavailable, "not_caught_up": ErrUnavailable, "timeout": ErrUnavailable,
	"shutting_down": ErrUnavailable, "forward_failed": ErrUnavailable, "no_signing_key": ErrUnavailable,

	"cluster_upgrading": ErrUpgrading,
	"format_gated":      ErrUpgrading, // a command the cluster's format level does not allow yet
	"format_in_use":     ErrConflict,  // a downgrade below a format the state still uses

	// Second factors.
	"second_factor_required": ErrSecondFactorRequired, "bad_second_factor": ErrBadSecondFactor,
	"step_up_required": ErrStepUp, "invalid_otp": ErrBadRequest, "no_second_factor": ErrConflict,
	// 403: the policy asks this account to enrol a second factor first;
	// the session reaches only the enrolment routes.
	"second_factor_setup_required": ErrForbidden,

	// Passkeys: a key the server does not know or refuses as cloned (its
	// signature counter went backwards) is a failed sign-in.
	"unknown_passkey": ErrBadCredentials, "passkey_cloned": ErrBadCredentials,
	"passkey_rejected": ErrBadRequest, "challenge_gone": ErrBadRequest, "invalid_name": ErrBadRequest,
	"passkey_exists": ErrConflict, "passkey_limit": ErrConflict,
	"passkeys_not_configured": ErrInternal, // 501: no relying party configured

	"signup_disabled": ErrInternal, // 501: this server does not offer it
}

// statusSentinels is the fallback of a code not in codeSentinels: the
// sentinel of the answer's status.
var statusSentinels = map[int]error{
	http.StatusUnauthorized:       ErrInvalidToken,
	http.StatusForbidden:          ErrForbidden,
	http.StatusNotFound:           ErrNotFound,
	http.StatusConflict:           ErrConflict,
	http.StatusTooManyRequests:    ErrThrottled,
	http.StatusServiceUnavailable: ErrUnavailable,
}

func statusSentinel(status int) error {
	if err, ok := statusSentinels[status]; ok {
		return err
	}
	switch {
	case status >= 400 && status < 500:
		return ErrBadRequest
	case status >= 500:
		return ErrInternal
	}
	return nil
}

// Error is an error answer of the API: the HTTP status and the
// {"error":{"code","message"}} body, plus where it came from.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Node is the X-Sessiond-Node header of the answer, if any.
	Node string
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code == "" {
		return fmt.Sprintf("sessiond: %d: %s", e.Status, msg)
	}
	return fmt.Sprintf("sessiond: %d %s: %s", e.Status, e.Code, msg)
}

// Unwrap gives the sentinels this error matches: the one of its code (or
// of its status, for codes this client does not know) and, for every 503,
// ErrUnavailable.
func (e *Error) Unwrap() []error {
	s, ok := codeSentinels[e.Code]
	if !ok {
		s = statusSentinel(e.Status)
	}
	var errs []error
	if s != nil {
		errs = append(errs, s)
	}
	if e.Status == http.StatusServiceUnavailable && s != ErrUnavailable {
		errs = append(errs, ErrUnavailable)
	}
	return errs
}
