package reqsign

import (
	"crypto/sha256"
	"net/http"
	"sync"
	"time"
)

// Signer signs requests for callers that know nodes by address only
// (operator tools, api/client, test drivers): the first call to an
// address asks it which node it is (NodeID), later ones reuse the answer,
// and every call is signed for that node alone. Safe for concurrent use.
type Signer struct {
	key []byte
	hc  *http.Client
	mu  sync.Mutex
	ids map[string]string // scheme://host -> node id
}

// NewSigner signs with key (see Key), looking node ids up through hc
// (nil: http.DefaultClient), which must trust the nodes' certificates.
func NewSigner(key []byte, hc *http.Client) *Signer {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Signer{key: key, hc: hc, ids: map[string]string{}}
}

// Sign signs req for the node at its URL's host, hashing the body
// without consuming it (see Sign).
func (s *Signer) Sign(req *http.Request) error {
	sum, err := BodySum(req)
	if err != nil {
		return err
	}
	return s.SignSum(req, sum)
}

// SignSum is Sign for a body whose SHA-256 the caller has.
func (s *Signer) SignSum(req *http.Request, bodySum [sha256.Size]byte) error {
	id, err := s.target(req)
	if err != nil {
		return err
	}
	SignSum(req, s.key, id, bodySum, time.Now())
	return nil
}

func (s *Signer) target(req *http.Request) (string, error) {
	base := req.URL.Scheme + "://" + req.URL.Host
	s.mu.Lock()
	id, ok := s.ids[base]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := NodeID(req.Context(), s.hc, base)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.ids[base] = id
	s.mu.Unlock()
	return id, nil
}
