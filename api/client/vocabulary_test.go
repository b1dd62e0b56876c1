package client

import (
	"errors"
	"testing"

	"github.com/sessiond/sessiond/api"
)

// Every code the server's error table can answer with is known to the
// client, and the sentinel it maps to is the one its status implies
// (or a more specific one of the same status class): renaming a code on
// the server without the client fails here, not in production.
func TestCodeSentinels_CoverTheServersTable(t *testing.T) {
	for code, status := range api.ErrorCodes() {
		sent, ok := codeSentinels[code]
		if !ok {
			t.Errorf("server code %q (status %d) is unknown to the client", code, status)
			continue
		}
		fallback := statusSentinel(status)
		switch {
		case sent == fallback:
		case status == 503 && errors.Is(sent, ErrNoLeader):
		case status == 401 && (sent == ErrBadCredentials || sent == ErrNoCredentials):
		case status == 409 && sent == ErrUserExists:
		case status == 429 && sent == ErrLocked:
		case status == 404 || status == 403 || status == 400:
			// specific sentinels of these classes are the status's own
			if sent != fallback {
				t.Errorf("code %q (status %d) maps to %v, its status to %v", code, status, sent, fallback)
			}
		default:
			t.Errorf("code %q (status %d) maps to %v, its status to %v", code, status, sent, fallback)
		}
	}
}
