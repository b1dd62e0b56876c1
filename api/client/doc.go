// Package client is a Go client for sessiond's native HTTP API (/v1).
//
// A Client is built over the base URLs of one or more nodes. Every call
// goes to the node that answered last; when a node cannot be reached or
// answers 503 (no leader, not caught up, shutting down, busy) the call
// moves on to the next node, and after a full round of failures it waits
// (the largest Retry-After seen, capped, or a short backoff) and starts
// another round, until the caller's context ends. A 4xx answer is final
// and never retried: it would only be refused again.
//
// After an ambiguous failure — the connection broke after the request was
// sent, or a 503 "timeout" or "forward_failed" — the write may have been
// committed. Calls that are harmless to repeat are retried anyway: a
// repeated login can at worst leave one extra session whose token nobody
// holds; logout, revocation and deletion treat "already gone" as done.
// User creation is not repeated: its error wraps ErrUnknownOutcome, and
// ListUsers tells what happened.
//
// Errors from the server come back as *Error, which carries the status and
// the stable code of the error table; errors.Is matches them against the
// sentinels of this package (ErrBadCredentials, ErrInvalidToken, ...).
//
// The client never logs, and no error it returns contains a token or a
// password. A Client is safe for concurrent use.
package client
