package api

import (
	"errors"
	"net/http"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
)

// Request errors raised by the api package itself.
var (
	ErrBadJSON          = errors.New("api: malformed JSON body")
	ErrBodyTooLarge     = errors.New("api: request body too large")
	ErrUnsupportedMedia = errors.New("api: unsupported content type")
	ErrMissingField     = errors.New("api: missing required field")
	ErrBadField         = errors.New("api: invalid field")
	ErrNoCredentials    = errors.New("api: authentication credentials were not provided")
	ErrInvalidToken     = auth.ErrInvalidToken // every validation failure wraps it
	ErrForbidden        = errors.New("api: forbidden")
	ErrNotFound         = errors.New("api: not found")
	ErrMethod           = errors.New("api: method not allowed")
	ErrSignupDisabled   = auth.ErrSignupDisabled
)

// apiError is one row of the error table: the status and the stable code
// the native API returns for an error.
type apiError struct {
	status int
	code   string
}

// errorTable maps every sentinel any layer returns to one status and code.
// Order matters only where one error wraps another; the first match wins.
var errorTable = []struct {
	err error
	apiError
}{
	{ErrBadJSON, apiError{400, "bad_json"}},
	{ErrMissingField, apiError{400, "missing_field"}},
	{ErrBadField, apiError{400, "invalid_field"}},
	{ErrBodyTooLarge, apiError{413, "body_too_large"}},
	{ErrUnsupportedMedia, apiError{415, "unsupported_media_type"}},
	{ErrNoCredentials, apiError{401, "no_credentials"}},
	{ErrInvalidToken, apiError{401, "invalid_token"}},
	{ErrForbidden, apiError{403, "forbidden"}},
	{ErrNotFound, apiError{404, "not_found"}},
	{ErrMethod, apiError{405, "method_not_allowed"}},
	{ErrSignupDisabled, apiError{501, "signup_disabled"}},

	{auth.ErrBadCredentials, apiError{401, "bad_credentials"}},
	{auth.ErrThrottled, apiError{429, "throttled"}},
	{auth.ErrUnknownDB, apiError{400, "unknown_db"}},
	{auth.ErrDBRequired, apiError{400, "db_required"}},
	{auth.ErrBadLogin, apiError{400, "invalid_login"}},
	{auth.ErrPasswordTooShort, apiError{400, "password_too_short"}},
	{auth.ErrPasswordTooLong, apiError{400, "password_too_long"}},
	{auth.ErrPasswordInvalid, apiError{400, "password_invalid"}},
	{auth.ErrPoolSaturated, apiError{503, "busy"}},
	{auth.ErrNoSigningKey, apiError{503, "no_signing_key"}},
	{auth.ErrNotVisible, apiError{503, "not_caught_up"}},
	{auth.ErrLoginTaken, apiError{409, "user_exists"}},
	{auth.ErrActiveKey, apiError{400, "active_key"}},
	{auth.ErrAdminExists, apiError{409, "admin_exists"}},
	{auth.ErrDialectKey, apiError{409, "dialect_key"}},

	{auth.ErrBadHash, apiError{400, "bad_hash"}},

	{fsm.ErrUserExists, apiError{409, "user_exists"}},
	{fsm.ErrEmailExists, apiError{409, "email_exists"}},
	{fsm.ErrUserNotFound, apiError{404, "user_not_found"}},
	{fsm.ErrUserDisabled, apiError{403, "user_disabled"}},
	{fsm.ErrSessionNotFound, apiError{404, "session_not_found"}},
	{fsm.ErrSessionLimit, apiError{403, "session_limit"}},
	{fsm.ErrStaleUser, apiError{409, "user_changed"}},
	{fsm.ErrKeyNotFound, apiError{404, "key_not_found"}},
	{fsm.ErrKeyExists, apiError{409, "key_exists"}},
	{fsm.ErrSessionConflict, apiError{409, "session_conflict"}},
	{fsm.ErrBadCommand, apiError{400, "bad_command"}},
	{fsm.ErrFormatInUse, apiError{409, "format_in_use"}}, // the cluster version (ver)
	{fsm.ErrFormatGated, apiError{503, "format_gated"}},

	{cluster.ErrBadLevel, apiError{400, "bad_consistency"}},
	{cluster.ErrBadBackup, apiError{400, "bad_backup"}},
	{cluster.ErrUnknownNode, apiError{404, "unknown_node"}},
	{cluster.ErrMemberExists, apiError{409, "member_exists"}},
	{cluster.ErrOnlyVoter, apiError{409, "only_voter"}},
	{cluster.ErrUpgrading, apiError{503, "cluster_upgrading"}},
	{cluster.ErrConfig, apiError{400, "bad_request"}},
	{cluster.ErrUnauthorized, apiError{403, "bad_cluster_key"}},
	{cluster.ErrNoLeader, apiError{503, "no_leader"}},
	{cluster.ErrNotLeader, apiError{503, "not_leader"}},
	{cluster.ErrNotCaughtUp, apiError{503, "not_caught_up"}},
	{cluster.ErrTimeout, apiError{503, "timeout"}},
	{cluster.ErrShutdown, apiError{503, "shutting_down"}},
	{cluster.ErrForward, apiError{503, "forward_failed"}},
}

// lookupError returns the table row for err; unknown errors are 500.
func lookupError(err error) apiError {
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			return row.apiError
		}
	}
	return apiError{http.StatusInternalServerError, "internal"}
}

// retryAfter returns the seconds a client should wait, when err carries one
// (throttling, lockout) or when the cluster is unavailable.
func retryAfter(err error) int {
	var ra interface{ RetryAfter() int }
	if errors.As(err, &ra) {
		return ra.RetryAfter()
	}
	if lookupError(err).status == http.StatusServiceUnavailable {
		return 1
	}
	return 0
}

// ErrorCodes lists every code of the error table with its status: the
// vocabulary the Go client (api/client) reverses, tied to it by a test.
func ErrorCodes() map[string]int {
	out := map[string]int{"internal": http.StatusInternalServerError}
	for _, row := range errorTable {
		out[row.code] = row.status
	}
	return out
}
