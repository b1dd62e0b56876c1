package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"

	"github.com/sessiond/sessiond/fsm"
)

// ErrBadClient is a service client that is unknown or presented the wrong
// secret; the two are not told apart.
var ErrBadClient = errors.New("auth: unknown client or wrong secret")

// maxClientName bounds a client's label.
const maxClientName = 128

// CreateClient makes a service client (a resource server that
// introspects tokens) bound to db, or cluster-wide when db is "". It
// returns the client and its secret, which is shown to the admin once and
// never stored: the state keeps SHA-256(secret).
//
// Why a fast hash and not argon2id: the secret is not a password but 256
// bits from crypto/rand, so no guessing or dictionary attack against its
// digest is feasible, and a memory-hard hash would only cost each
// introspection (the resource server's hot path) a slow hash and the
// hashing pool's capacity, which logins need. Tokens are stored the same
// way.
func (s *Service) CreateClient(ctx context.Context, name, db string) (fsm.Client, string, error) {
	if len(name) > maxClientName {
		return fsm.Client{}, "", ErrBadClientName
	}
	if db != "" && !s.node.State().HasDB(db) {
		return fsm.Client{}, "", ErrUnknownDB
	}
	id, err := NewID()
	if err != nil {
		return fsm.Client{}, "", err
	}
	secret, err := NewToken()
	if err != nil {
		return fsm.Client{}, "", err
	}
	c := fsm.Client{ID: id, Name: name, DB: db, SecretDigest: sha256.Sum256([]byte(secret)), Created: s.cfg.Now().UnixNano()}
	if _, err := s.node.Apply(ctx, &fsm.PutClient{Client: c}); err != nil {
		return fsm.Client{}, "", err
	}
	return c, secret, nil
}

// ErrBadClientName is a client name over maxClientName bytes.
var ErrBadClientName = errors.New("auth: client name longer than 128 bytes")

// Clients lists the service clients (never their secrets: only digests
// are held).
func (s *Service) Clients() []fsm.Client { return s.node.State().Clients() }

// DeleteClient removes a service client; found is false when there was
// none with that id.
func (s *Service) DeleteClient(ctx context.Context, id string) (found bool, err error) {
	res, err := s.node.Apply(ctx, &fsm.DeleteClient{ID: id})
	return res.Count > 0, err
}

// AuthenticateClient checks a client's id and secret. The secret's digest
// is compared in constant time, and an unknown id costs the same digest
// and comparison, so the answer's timing tells neither which ids exist
// nor how much of a secret was right.
//
// The client is read as a default-level validation reads a session: a
// hit stands under this node's read lease, otherwise (a miss, or no
// lease) the node catches up with the leader first. So a client created
// through another node is found here, and one whose deletion was
// acknowledged is refused here (the deletion narrows: lease holders apply
// it before it is acknowledged); it once was accepted by a node cut off
// from the leader (TestAuthenticateClient_DeletedClientRefusedOnALaggingNode).
func (s *Service) AuthenticateClient(ctx context.Context, id, secret string) (fsm.Client, error) {
	_, ok := s.node.State().Client(id)
	if id != "" {
		if err := s.node.ReadBarrier(ctx, fsm.Default, ok); err != nil {
			return fsm.Client{}, err
		}
	}
	c, ok := s.node.State().Client(id)
	got := sha256.Sum256([]byte(secret))
	want := c.SecretDigest // zero for an unknown id: no secret digests to it
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !ok {
		return fsm.Client{}, ErrBadClient
	}
	return c, nil
}
