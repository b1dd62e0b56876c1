// Package reqsign signs HTTP requests with a key derived from the cluster
// key, so that nodes and operator tools prove they hold the key without
// ever sending it: whoever captures a call (a forged leader URL, a proxy,
// a log) learns a signature over one request to one node, nothing it can
// turn back into the key.
//
// The signature covers the target node's id, the method, the request
// URI, the SHA-256 of the body, a timestamp and a random nonce. The
// server (package cluster) refuses a call addressed to another node,
// timestamps outside Window and nonces it has seen within it: since a
// call is valid on its target alone, and the target remembers its nonce,
// a captured call is accepted at most once in the whole cluster (finding
// N8: without the target, it replayed once on every other member). Each
// call also carries the previous release's signature (LegacyHeader) for
// nodes not yet upgraded; this release ignores it.
//
// This package is small and has no dependency on Raft, so api/client and
// the CLI can import it.
package reqsign

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Header carries the signature:
// "v2 d=<target node id, query-escaped> t=<unix seconds> n=<nonce hex> s=<mac hex>".
const Header = "X-Sessiond-Signature-2"

// LegacyHeader carries the same call signed in the previous release's
// format ("v1 t=... n=... s=...", no target), so that nodes not yet
// upgraded accept calls during a rolling upgrade. This release never
// accepts it: a call that carries only it is refused (reason old_format).
// Drop it in the release after this one.
const LegacyHeader = "X-Sessiond-Signature"

// Window is how far a request's timestamp may be from the server's clock.
// It bounds how long a captured request stays replayable, and so how long
// the server must remember nonces.
const Window = 30 * time.Second

// NonceSize is the length of the random nonce in bytes.
const NonceSize = 16

const (
	version = "v2"
	// label separates request signatures from every other use of the
	// cluster key (the Raft stream handshake derives its own keys).
	label = "sessiond/v1/internal-request-signature"
)

// ErrMalformed means the signature header could not be parsed.
var ErrMalformed = errors.New("reqsign: malformed signature header")

// Key derives the request-signing key from the cluster key. Deriving it
// (rather than using the key directly) keeps a signature from being
// useful against any other protocol keyed by the cluster key.
func Key(clusterKey string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(clusterKey), nil, label, 32)
	if err != nil {
		panic("reqsign: hkdf: " + err.Error()) // only for invalid lengths
	}
	return k
}

// NodeHeader names the node that answered; every response of the API
// carries it. NodePath answers it without credentials, which is how a
// caller that knows only an address learns the id to sign for (NodeID).
const (
	NodeHeader = "X-Sessiond-Node"
	NodePath   = "/internal/v1/node"
)

// Signature is a parsed signature header.
type Signature struct {
	Target string // the node id the call is addressed to
	Time   time.Time
	Nonce  [NonceSize]byte
	MAC    []byte
}

// Parse reads a signature header value.
func Parse(v string) (Signature, error) {
	var s Signature
	f := strings.Fields(v)
	if len(f) != 5 || f[0] != version {
		return s, ErrMalformed
	}
	var haveD, haveT, haveN, haveS bool
	for _, kv := range f[1:] {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return s, ErrMalformed
		}
		switch k {
		case "d":
			d, err := url.QueryUnescape(val)
			if err != nil || d == "" {
				return s, ErrMalformed
			}
			s.Target, haveD = d, true
		case "t":
			sec, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return s, ErrMalformed
			}
			s.Time, haveT = time.Unix(sec, 0), true
		case "n":
			b, err := hex.DecodeString(val)
			if err != nil || len(b) != NonceSize {
				return s, ErrMalformed
			}
			copy(s.Nonce[:], b)
			haveN = true
		case "s":
			b, err := hex.DecodeString(val)
			if err != nil || len(b) != sha256.Size {
				return s, ErrMalformed
			}
			s.MAC, haveS = b, true
		default:
			return s, ErrMalformed
		}
	}
	if !haveD || !haveT || !haveN || !haveS {
		return s, ErrMalformed
	}
	return s, nil
}

// mac computes the signature over one request. The target is
// length-prefixed, so no id can be read as another id plus more fields.
func mac(key []byte, target, method, uri string, bodySum [sha256.Size]byte, unix int64, nonce [NonceSize]byte) []byte {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s %s\n%d:%s\n%s\n%s\n%x\n%d\n%x", label, version, len(target), target, method, uri, bodySum, unix, nonce)
	return m.Sum(nil)
}

// legacyMAC is the previous release's signature, for LegacyHeader.
func legacyMAC(key []byte, method, uri string, bodySum [sha256.Size]byte, unix int64, nonce [NonceSize]byte) []byte {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s\n%s\n%s\n%x\n%d\n%x", label, method, uri, bodySum, unix, nonce)
	return m.Sum(nil)
}

// Valid reports, in constant time, whether s signs the request as
// addressed to s.Target; the verifier checks separately that s.Target is
// itself.
func (s Signature) Valid(key []byte, method, uri string, bodySum [sha256.Size]byte) bool {
	want := mac(key, s.Target, method, uri, bodySum, s.Time.Unix(), s.Nonce)
	return hmac.Equal(want, s.MAC)
}

// SignSum sets the signature header on req, addressed to the node whose
// id is target, for a body whose SHA-256 is bodySum, at time now with a
// fresh random nonce.
func SignSum(req *http.Request, key []byte, target string, bodySum [sha256.Size]byte, now time.Time) {
	var nonce [NonceSize]byte
	rand.Read(nonce[:])
	SignWith(req, key, target, bodySum, now, nonce)
}

// SignWith is SignSum with a chosen nonce (tests build replays with it).
func SignWith(req *http.Request, key []byte, target string, bodySum [sha256.Size]byte, now time.Time, nonce [NonceSize]byte) {
	unix := now.Unix()
	m := mac(key, target, req.Method, req.URL.RequestURI(), bodySum, unix, nonce)
	req.Header.Set(Header, fmt.Sprintf("%s d=%s t=%d n=%x s=%x", version, url.QueryEscape(target), unix, nonce, m))
	old := legacyMAC(key, req.Method, req.URL.RequestURI(), bodySum, unix, nonce)
	req.Header.Set(LegacyHeader, fmt.Sprintf("v1 t=%d n=%x s=%x", unix, nonce, old))
}

// Sign signs req, addressed to the node target, with key (see Key). The
// body is hashed without being consumed: through GetBody, by seeking back
// when it is a file, or else by reading it into memory and replacing it.
func Sign(req *http.Request, key []byte, target string) error {
	sum, err := BodySum(req)
	if err != nil {
		return err
	}
	SignSum(req, key, target, sum, time.Now())
	return nil
}

// ErrNoNodeID means the server at an address did not say which node it
// is, so no call to it can be signed.
var ErrNoNodeID = errors.New("reqsign: the server did not name its node (is sessiond running there?)")

// NodeID asks the server at base (an API base URL) which node it is:
// GET NodePath answers without credentials and, like every response,
// names the node in NodeHeader. A caller that knows only an address signs
// for that id. A server that lies gets a call valid on the node it named,
// once: no more than it could have relayed.
func NodeID(ctx context.Context, hc *http.Client, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+NodePath, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	id := resp.Header.Get(NodeHeader)
	if id == "" {
		return "", fmt.Errorf("%w: %s answered %d", ErrNoNodeID, base, resp.StatusCode)
	}
	return id, nil
}

// BodySum hashes req's body and leaves the body ready to be sent.
func BodySum(req *http.Request) ([sha256.Size]byte, error) {
	h := sha256.New()
	var sum [sha256.Size]byte
	switch {
	case req.Body == nil || req.Body == http.NoBody:
	case req.GetBody != nil:
		rc, err := req.GetBody()
		if err != nil {
			return sum, err
		}
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return sum, err
		}
	default:
		if rs, ok := req.Body.(io.ReadSeeker); ok {
			return seekSum(rs, h)
		}
		data, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return sum, err
		}
		h.Write(data)
		req.Body = io.NopCloser(bytes.NewReader(data))
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// seekSum hashes from the current offset to the end, then seeks back.
func seekSum(rs io.ReadSeeker, h hash.Hash) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return sum, err
	}
	if _, err := io.Copy(h, rs); err != nil {
		return sum, err
	}
	if _, err := rs.Seek(start, io.SeekStart); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
