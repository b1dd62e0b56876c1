package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster/reqsign"
)

// TestKeyStrength_RefusesHumanKeys feeds the kinds of key people choose,
// including the one finding N7 cracked in 499 guesses, and keys that are
// only long: each must be refused with a message that says how to make a
// good one and holds no part of the key.
func TestKeyStrength_RefusesHumanKeys(t *testing.T) {
	for _, k := range []string{
		"sessiond-cluster-2026",                    // N7's key: not key text at all
		"e2e-cluster-key-0123456789abcdef",         // base64url-shaped, but words and runs
		"another-key-0123456789abcdef",             // idem
		"k-0123456789abcdef",                       // too short
		"0123456789abcdef0123456789abcdef",         // hex, a run repeated
		"deadbeefdeadbeefdeadbeefdeadbeef",         // hex, one word repeated
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", // one character
		"sessiondclusterkeyforproductionuse2026",   // words glued together
		"Correct-Horse-Battery-Staple-Mountain1",   // a passphrase
		"passwordpasswordpasswordpassword",
		"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", // base64 of the alphabet
		"c2Vzc2lvbmQ=",                        // 8 bytes
	} {
		err := checkKeyStrength(envClusterKey, k)
		if err == nil {
			t.Errorf("%q accepted", k)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "sessiond keygen") || !strings.Contains(msg, envClusterKey) {
			t.Errorf("%q: message %q does not name the variable and keygen", k, msg)
		}
		for _, part := range []string{k, k[:len(k)/2], k[len(k)/2:]} {
			if len(part) >= 6 && strings.Contains(err.Error(), part) {
				t.Errorf("message %q shows part of the key", err)
			}
		}
	}
}

// TestKeyStrength_AcceptsRandomKeys checks that what generators print
// passes: keygen's own output, and 16- and 32-byte keys in hex and
// base64 as openssl rand prints them (a 16-byte key carries about 128
// bits, so about 1 in 600 holds a pattern and is refused; the test allows
// up to 1 % of those and no refusal of a 32-byte one).
func TestKeyStrength_AcceptsRandomKeys(t *testing.T) {
	const tries = 1000
	refused := map[string]int{}
	for range tries {
		k, err := newClusterKey()
		if err != nil || len(k) != 43 {
			t.Fatalf("keygen: %q, %v", k, err)
		}
		for name, enc := range map[string]func([]byte) string{
			"hex": hex.EncodeToString, "base64": base64.StdEncoding.EncodeToString, "base64url": base64.RawURLEncoding.EncodeToString,
		} {
			for _, n := range []int{16, 32} {
				b := make([]byte, n)
				rand.Read(b)
				if checkKeyStrength(envClusterKey, enc(b)) != nil {
					refused[name+string(rune('0'+n/16))]++
				}
			}
		}
	}
	for kind, n := range refused {
		limit := 0
		if kind == "hex1" || kind == "base641" || kind == "base64url1" {
			limit = tries / 100 // 1 % at most where the expected rate is ~0.2 %
		}
		if n > limit {
			t.Errorf("%s keys: %d of %d random keys refused", kind, n, tries)
		}
	}
}

// TestServe_WeakClusterKeyChangesNothing starts serve with finding N7's
// key, from the environment and from a file: it must stop with the
// keygen advice before it creates the data dir, a seal file or a lock.
func TestServe_WeakClusterKeyChangesNothing(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "cluster-key")
	os.WriteFile(keyFile, []byte("sessiond-cluster-2026-prod\n"), 0o600)
	for name, env := range map[string]Env{
		"env":   mapEnv(envClusterKey, "e2e-cluster-key-0123456789abcdef"),
		"_FILE": mapEnv(envClusterKey+"_FILE", keyFile),
	} {
		data := filepath.Join(dir, "data-"+strings.TrimPrefix(name, "_"))
		var stderr bytes.Buffer
		m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Env: env}
		err := m.Run(context.Background(), []string{"serve", "--data-dir", data, "--api-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0"})
		if err == nil || !strings.Contains(err.Error(), "sessiond keygen") {
			t.Fatalf("%s: serve with a weak key: %v", name, err)
		}
		if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the data dir exists after a refused start: %v", name, err)
		}
		if _, err := os.Stat(defaultSealFile(data)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: a seal file was made: %v", name, err)
		}
	}
}

// TestKeygen_PrintsOneStrongKey runs `sessiond keygen` as an operator
// would: one line, 32 bytes of base64url, accepted by serve's check, and
// a different key each time.
func TestKeygen_PrintsOneStrongKey(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		var out bytes.Buffer
		m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: io.Discard, Env: mapEnv()}
		if err := m.Run(context.Background(), []string{"keygen"}); err != nil {
			t.Fatal(err)
		}
		k := strings.TrimSuffix(out.String(), "\n")
		raw, err := base64.RawURLEncoding.DecodeString(k)
		if err != nil || len(raw) != keygenBytes || strings.Contains(k, "\n") || seen[k] {
			t.Fatalf("keygen printed %q (%d bytes, %v)", out.String(), len(raw), err)
		}
		if err := checkKeyStrength(envClusterKey, k); err != nil {
			t.Fatalf("keygen's key refused: %v", err)
		}
		seen[k] = true
	}
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Env: mapEnv()}
	if err := m.Run(context.Background(), []string{"keygen", "extra"}); err == nil {
		t.Fatal("keygen took an argument")
	}
}

// TestClusterKey_EveryUseIsDerived checks, for the uses of the cluster
// key reachable from here, that each gets its own subkey (HKDF with its
// own label) and none the key itself: request signing (reqsign) and the
// backup MAC (auth's sealer, whose AEAD key and seal id use two more
// labels). The Raft stream's two proof keys are checked against the key
// and reqsign's in cluster (TestReqSign_FakeLeaderLearnsNoKey's keyForms).
func TestClusterKey_EveryUseIsDerived(t *testing.T) {
	sealer, err := auth.NewSealer([]byte(testKey))
	if err != nil {
		t.Fatal(err)
	}
	raw := sha256.Sum256([]byte(testKey))
	uses := map[string][]byte{
		"raw key":     []byte(testKey),
		"sha256(key)": raw[:],
		"reqsign":     reqsign.Key(testKey),
		"backup MAC":  sealer.BackupMACKeys()[0],
	}
	seen := map[string]string{}
	for name, k := range uses {
		if other, dup := seen[string(k)]; dup {
			t.Errorf("%s and %s use the same key", name, other)
		}
		seen[string(k)] = name
	}
}
