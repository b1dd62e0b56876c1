package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

var (
	sealA = []byte("seal-secret-A-0123456789abcdef")
	sealB = []byte("seal-secret-B-0123456789abcdef")
)

func sealedService(t *testing.T, node *fsmNode, s *Sealer) *Service {
	t.Helper()
	cfg := DefaultServiceConfig()
	cfg.Hash = MinimalHashParams()
	svc, err := NewService(cfg, Deps{Node: node, Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func mustSealer(t *testing.T, cur []byte, old ...[]byte) *Sealer {
	t.Helper()
	s, err := NewSealer(cur, old...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// encodings are the forms a leaked secret could take in a file.
func encodings(b []byte) [][]byte {
	return [][]byte{b, []byte(hex.EncodeToString(b)), []byte(base64.StdEncoding.EncodeToString(b)),
		[]byte(base64.URLEncoding.EncodeToString(b)), []byte(base64.RawStdEncoding.EncodeToString(b)),
		[]byte(base64.RawURLEncoding.EncodeToString(b))}
}

// addEveryAlg adds one key of each algorithm and returns them unsealed.
func addEveryAlg(t *testing.T, svc *Service) []Key {
	t.Helper()
	var keys []Key
	for _, alg := range []string{AlgHS256, AlgHS384, AlgHS512, AlgEdDSA, AlgRS256} {
		k, err := svc.AddKey(context.Background(), alg, true)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		keys = append(keys, k)
	}
	return keys
}

// verifies checks that a token signed with k verifies through svc's
// keyring, i.e. the stored key unseals to the same material.
func verifies(t *testing.T, svc *Service, k Key) error {
	t.Helper()
	tok, err := SignJWT(k, testClaims())
	if err != nil {
		t.Fatal(err)
	}
	_, err = VerifyJWT(stateKeyring{svc}, tok, jwtNow)
	return err
}

// The log and the snapshot hold only sealed material: no secret of any
// algorithm, raw or encoded; each key still signs and verifies.
func TestSeal_StateHoldsNoSecret(t *testing.T) {
	node := &fsmNode{f: fsm.New()}
	svc := sealedService(t, node, mustSealer(t, sealA))
	keys := addEveryAlg(t, svc)
	var snap bytes.Buffer
	if _, err := node.f.WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		sk, _ := node.State().Key(k.Kid)
		if !IsSealed(sk.Secret) {
			t.Errorf("%s: stored in the clear", k.Alg)
		}
		for _, enc := range encodings(k.Secret) {
			if bytes.Contains(snap.Bytes(), enc) {
				t.Errorf("%s: secret found in the snapshot", k.Alg)
			}
		}
		if err := verifies(t, svc, k); err != nil {
			t.Errorf("%s: does not verify: %v", k.Alg, err)
		}
	}
	active, err := svc.ActiveKey()
	if err != nil || !bytes.Equal(active.Secret, keys[len(keys)-1].Secret) {
		t.Fatalf("active key: %v", err)
	}
	listed, _ := svc.Keys()
	for _, k := range listed {
		if k.Secret != nil {
			t.Errorf("Keys() lists the secret of %s", k.Kid)
		}
	}
}

// The kid and alg are the associated data: sealed material copied onto
// another key does not open, and a node without the secret finds nothing.
func TestSeal_BoundToKidAndSecret(t *testing.T) {
	s := mustSealer(t, sealA)
	k, _ := GenerateKey(AlgHS256, jwtNow)
	sealed, _ := s.Seal(k)
	moved := keyToFSM(sealed)
	moved.Kid = "other"
	if _, err := s.Unseal(moved); !errors.Is(err, ErrBadKey) {
		t.Fatalf("moved material: %v", err)
	}
	if _, err := mustSealer(t, sealB).Unseal(keyToFSM(sealed)); !errors.Is(err, ErrSealed) {
		t.Fatalf("foreign secret: %v", err)
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Fatal("a short seal secret was accepted")
	}
}

// Rotation: a node given the new secret and the old one reads every key,
// its reseal leaves nothing under the old secret, and then the new
// secret alone is enough while the old one alone opens nothing.
func TestSeal_Rotation(t *testing.T) {
	node := &fsmNode{f: fsm.New()}
	keys := addEveryAlg(t, sealedService(t, node, mustSealer(t, sealA)))

	rotated := sealedService(t, node, mustSealer(t, sealB, sealA))
	for _, k := range keys {
		if err := verifies(t, rotated, k); err != nil {
			t.Fatalf("%s before reseal: %v", k.Alg, err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if n, stuck := rotated.ResealKeys(context.Background(), log); n != len(keys) || stuck != 0 {
		t.Fatalf("resealed %d, stuck %d; want %d, 0", n, stuck, len(keys))
	}
	if n, _ := rotated.ResealKeys(context.Background(), log); n != 0 {
		t.Fatalf("a second reseal did %d", n)
	}
	newOnly := sealedService(t, node, mustSealer(t, sealB))
	oldOnly := mustSealer(t, sealA)
	for _, k := range keys {
		if err := verifies(t, newOnly, k); err != nil {
			t.Errorf("%s after reseal, new secret only: %v", k.Alg, err)
		}
		sk, _ := node.State().Key(k.Kid)
		if _, err := oldOnly.Unseal(sk); !errors.Is(err, ErrSealed) {
			t.Errorf("%s still opens under the old secret: %v", k.Alg, err)
		}
	}
}

// Upgrade: keys a binary without sealing wrote in the clear keep working
// and are sealed by the first reseal.
func TestSeal_ClearKeysFromOlderLogs(t *testing.T) {
	node := &fsmNode{f: fsm.New()}
	keys := addEveryAlg(t, sealedService(t, node, nil))
	for _, k := range keys {
		if sk, _ := node.State().Key(k.Kid); IsSealed(sk.Secret) {
			t.Fatal("no sealer, yet sealed")
		}
	}
	svc := sealedService(t, node, mustSealer(t, sealA))
	for _, k := range keys {
		if err := verifies(t, svc, k); err != nil {
			t.Fatalf("%s clear key: %v", k.Alg, err)
		}
	}
	if n, _ := svc.ResealKeys(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil))); n != len(keys) {
		t.Fatalf("resealed %d of %d", n, len(keys))
	}
	for _, k := range keys {
		if sk, _ := node.State().Key(k.Kid); !IsSealed(sk.Secret) || bytes.Contains(sk.Secret, k.Secret) {
			t.Errorf("%s not sealed after reseal", k.Alg)
		}
	}
	// A service without the sealer cannot use what is now sealed.
	if _, err := sealedService(t, node, nil).ActiveKey(); !errors.Is(err, ErrSealed) {
		t.Fatalf("unsealed service, sealed key: %v", err)
	}
}

func BenchmarkSealer_UnsealCached(b *testing.B) {
	s, _ := NewSealer(sealA)
	k, _ := GenerateKey(AlgHS256, time.Now())
	sealed, _ := s.Seal(k)
	sk := keyToFSM(sealed)
	for b.Loop() {
		s.Unseal(sk)
	}
}
