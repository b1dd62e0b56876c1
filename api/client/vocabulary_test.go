package client

import (
	"errors"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
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
		case status == 503 && (errors.Is(sent, ErrNoLeader) || sent == ErrUpgrading): // also ErrUnavailable (Unwrap)
		case status == 401 && (sent == ErrBadCredentials || sent == ErrNoCredentials):
		case status == 401 && (sent == ErrSecondFactorRequired || sent == ErrBadSecondFactor || sent == ErrStepUp):
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

// The client imports nothing of the server: of this module, only the leaf
// packages made to be shared with it (the wire shapes, the request
// signature), which themselves import nothing of ours.
func TestImports_NothingOfTheServer(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	const module = "github.com/sessiond/sessiond/"
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, module) && path != module+"wire" && path != module+"cluster/reqsign" {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
