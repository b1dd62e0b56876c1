package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"time"
)

// Without --tls-ca, Raft runs over NewKeyed's layer: every connection is
// TLS 1.3 with a throw-away self-signed certificate (for confidentiality
// and integrity only; nobody verifies it), and then both sides prove they
// hold the cluster key by a challenge-response bound to that TLS session.
// Raft gets the connection only after the proof, so an outsider's bytes
// never reach its decoder: the raw-client attacks of finding C1 (forged
// AppendEntries, votes, snapshots) end at the handshake.
//
// The protocol, under a deadline of handshakeTimeout:
//
//	C -> S  magic || Nc                   (Nc: 32 random bytes)
//	S -> C  Ns || HMAC(kS, T)             (Ns: 32 random bytes)
//	C -> S  HMAC(kC, T)
//	S -> C  0x01                          (accepted)
//
// with T = magic || EKM || Nc || Ns, where EKM is the TLS session's exported
// keying material. kC and kS are derived from the cluster key with HKDF
// under distinct labels, so a server's proof is never a valid client proof
// (reflection fails), and EKM binds the proofs to this TLS session, so a
// man in the middle holding two sessions cannot relay them. Nonces from
// both sides make every proof fresh. MACs are compared with hmac.Equal.
//
// A node with no cluster key and no TLS (allowed only on loopback, see
// cluster.checkRaftExposure) uses a random key of its own: nobody else can connect
// to it, which is right, since without a key no other node can join.

const (
	// handshakeTimeout bounds a whole handshake once its first bytes came
	// (admit.go bounds the wait for those).
	handshakeTimeout = 5 * time.Second
	nonceLen         = 32
	ekmLabel         = "EXPORTER-sessiond-raft-auth-v1"
)

var handshakeMagic = []byte("SDRAFT\x00\x01")

// ErrHandshake is any failed handshake: the peer did not prove the cluster
// key, or refused ours. Nothing was read from it, so a caller reports an
// error, never an answer.
var ErrHandshake = errors.New("transport: raft handshake failed")

// streamKeys are the two direction-bound proof keys.
type streamKeys struct{ client, server []byte }

func deriveStreamKeys(clusterKey []byte) streamKeys {
	derive := func(label string) []byte {
		k, err := hkdf.Key(sha256.New, clusterKey, nil, label, 32)
		if err != nil {
			panic("transport: hkdf: " + err.Error())
		}
		return k
	}
	return streamKeys{
		client: derive("sessiond/v1/raft-stream/client-proof"),
		server: derive("sessiond/v1/raft-stream/server-proof"),
	}
}

// keyedHandshake holds what the cluster-key handshake needs: the proof
// keys of the cluster key this node uses (keys[0]) and of the keys it
// only accepts during a rotation (keyring.go's model: install, use,
// remove).
type keyedHandshake struct {
	keys      []streamKeys
	tlsServer *tls.Config
	timeout   time.Duration
}

// NewKeyed listens on bind for peers that prove they hold clusterKey, and
// dials peers the same way. advertise (nil: the bound address) is what
// Addr reports; onFail (may be nil) hears of every refused connection with
// a reason from FailReasons.
//
// accepted are previous (or next) cluster keys of a rotation: a peer
// proving any of them is let in, and this node, dialing, answers a server
// in the key that server proved. It always proves clusterKey as a server.
func NewKeyed(bind string, advertise net.Addr, clusterKey []byte, onFail FailFunc, accepted ...[]byte) (*Layer, error) {
	cert, err := ephemeralCert()
	if err != nil {
		return nil, err
	}
	keys := []streamKeys{deriveStreamKeys(clusterKey)}
	for _, a := range accepted {
		keys = append(keys, deriveStreamKeys(a))
	}
	k := &keyedHandshake{
		keys:      keys,
		tlsServer: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}},
		timeout:   handshakeTimeout,
	}
	return listen(bind, advertise, onFail, k.serverHandshake,
		func(raw net.Conn, _ string) (net.Conn, string, error) { return k.clientHandshake(raw) })
}

func (s *keyedHandshake) serverHandshake(raw net.Conn) (net.Conn, string, error) {
	raw.SetDeadline(time.Now().Add(s.timeout))
	tc := tls.Server(raw, s.tlsServer)
	if err := tc.Handshake(); err != nil {
		return nil, failReason(err, "handshake"), err
	}
	ekm, err := exportedKey(tc)
	if err != nil {
		return nil, "handshake", err
	}
	hello := make([]byte, len(handshakeMagic)+nonceLen)
	if _, err := io.ReadFull(tc, hello); err != nil {
		return nil, failReason(err, "handshake"), err
	}
	if !hmac.Equal(hello[:len(handshakeMagic)], handshakeMagic) {
		return nil, "handshake", fmt.Errorf("%w: bad magic", ErrHandshake)
	}
	nc := hello[len(handshakeMagic):]
	ns := randomBytes(nonceLen)
	t := transcript(ekm, nc, ns)
	if _, err := tc.Write(append(ns, proof(s.keys[0].server, t)...)); err != nil {
		return nil, failReason(err, "handshake"), err
	}
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(tc, got); err != nil {
		return nil, failReason(err, "handshake"), err
	}
	if s.match(got, t, func(k streamKeys) []byte { return k.client }) < 0 {
		return nil, "bad_proof", fmt.Errorf("%w: peer does not hold the cluster key", ErrHandshake)
	}
	if _, err := tc.Write([]byte{1}); err != nil {
		return nil, failReason(err, "handshake"), err
	}
	raw.SetDeadline(time.Time{})
	return tc, "", nil
}

func (s *keyedHandshake) clientHandshake(raw net.Conn) (net.Conn, string, error) {
	raw.SetDeadline(time.Now().Add(s.timeout))
	// The certificate is not verified: the peer is authenticated by its
	// proof below, which is bound to this session through EKM.
	tc := tls.Client(raw, &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, ServerName: "sessiond-raft"})
	if err := tc.Handshake(); err != nil {
		return nil, failReason(err, "handshake"), err
	}
	ekm, err := exportedKey(tc)
	if err != nil {
		return nil, "handshake", err
	}
	nc := randomBytes(nonceLen)
	if _, err := tc.Write(append(append([]byte{}, handshakeMagic...), nc...)); err != nil {
		return nil, failReason(err, "handshake"), err
	}
	reply := make([]byte, nonceLen+sha256.Size)
	if _, err := io.ReadFull(tc, reply); err != nil {
		return nil, failReason(err, "handshake"), err
	}
	ns := reply[:nonceLen]
	t := transcript(ekm, nc, ns)
	i := s.match(reply[nonceLen:], t, func(k streamKeys) []byte { return k.server })
	if i < 0 {
		return nil, "peer_bad_proof", fmt.Errorf("%w: %s does not hold the cluster key", ErrHandshake, raw.RemoteAddr())
	}
	if _, err := tc.Write(proof(s.keys[i].client, t)); err != nil {
		return nil, failReason(err, "handshake"), err
	}
	ack := make([]byte, 1)
	if _, err := io.ReadFull(tc, ack); err != nil || ack[0] != 1 {
		return nil, "peer_bad_proof", fmt.Errorf("%w: refused by %s", ErrHandshake, raw.RemoteAddr())
	}
	raw.SetDeadline(time.Time{})
	return tc, "", nil
}

// match returns the index of the key whose proof (picked by which) got
// is, or -1. Every key is tried, so the time taken does not say which.
func (s *keyedHandshake) match(got, t []byte, which func(streamKeys) []byte) int {
	found := -1
	for i := len(s.keys) - 1; i >= 0; i-- {
		if hmac.Equal(got, proof(which(s.keys[i]), t)) {
			found = i
		}
	}
	return found
}

func transcript(ekm, nc, ns []byte) []byte {
	t := make([]byte, 0, len(handshakeMagic)+len(ekm)+len(nc)+len(ns))
	return append(append(append(append(t, handshakeMagic...), ekm...), nc...), ns...)
}

func proof(key, transcript []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(transcript)
	return m.Sum(nil)
}

func exportedKey(tc *tls.Conn) ([]byte, error) {
	cs := tc.ConnectionState()
	return cs.ExportKeyingMaterial(ekmLabel, nil, 32)
}

func failReason(err error, fallback string) string {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return fallback
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// ephemeralCert is a self-signed P-256 certificate made at start-up. It
// only gives the TLS session its keys; trust comes from the key proof.
func ephemeralCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "sessiond-raft"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(100 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
