package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// TLSFiles names the PEM files for mutual TLS between nodes: this node's
// certificate and key, and the CA that signs every member's certificate.
type TLSFiles struct {
	CertFile string
	KeyFile  string
	CAFile   string
}

// Enabled reports whether certificates were given.
func (f TLSFiles) Enabled() bool { return f.CertFile != "" }

// ErrTLS means the certificates could not be loaded.
var ErrTLS = errors.New("transport: tls")

// CertReloader holds the current certificate and CA pool and swaps them on
// Reload (SIGHUP), so certificates rotate without a restart. Connections
// already open keep the certificate they were made with.
type CertReloader struct {
	files TLSFiles
	mu    sync.RWMutex
	cert  *tls.Certificate
	pool  *x509.CertPool
}

// NewCertReloader loads the files once; an error means they are unusable.
func NewCertReloader(files TLSFiles) (*CertReloader, error) {
	r := &CertReloader{files: files}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again. On error the previous certificates stay.
func (r *CertReloader) Reload() error {
	cert, err := tls.LoadX509KeyPair(r.files.CertFile, r.files.KeyFile)
	if err != nil {
		return fmt.Errorf("%w: key pair: %v", ErrTLS, err)
	}
	var pool *x509.CertPool
	if r.files.CAFile != "" {
		pem, err := os.ReadFile(r.files.CAFile)
		if err != nil {
			return fmt.Errorf("%w: ca: %v", ErrTLS, err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%w: ca file holds no certificate", ErrTLS)
		}
	}
	r.mu.Lock()
	r.cert, r.pool = &cert, pool
	r.mu.Unlock()
	return nil
}

func (r *CertReloader) current() (*tls.Certificate, *x509.CertPool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cert, r.pool
}

// aeadSuites are the only TLS 1.2 suites offered or accepted: ECDHE key
// exchange (forward secrecy) with AES-GCM or ChaCha20-Poly1305, so no CBC
// or SHA-1 suite is ever negotiated (finding L8). TLS 1.3 suites are all
// AEAD and not configurable; Go picks 1.3 whenever both sides have it.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSPolicy sets the cluster's TLS floor on c (TLS 1.2 with AEAD suites
// only) and returns it, for every config a node or its tools build.
func TLSPolicy(c *tls.Config) *tls.Config {
	c.MinVersion = tls.VersionTLS12
	c.CipherSuites = aeadSuites
	return c
}

// ServerConfig is a TLS config for a listener. With a CA it requires and
// verifies client certificates (mutual TLS between nodes).
func (r *CertReloader) ServerConfig(requireClientCert bool) *tls.Config {
	return TLSPolicy(&tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool := r.current()
			c := TLSPolicy(&tls.Config{Certificates: []tls.Certificate{*cert}})
			if requireClientCert && pool != nil {
				c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pool
			}
			return c, nil
		},
	})
}

// ClientConfig is a TLS config for dialing another member: it presents
// this node's certificate and trusts only the cluster CA.
func (r *CertReloader) ClientConfig() *tls.Config {
	cert, pool := r.current()
	return TLSPolicy(&tls.Config{
		RootCAs: pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, _ := r.current()
			return c, nil
		},
		Certificates: []tls.Certificate{*cert},
	})
}

// NewMutualTLS is Raft over mutual TLS. The handshake runs before
// Raft gets the connection (as with the cluster-key layer), so a peer
// without a certificate of the cluster CA is closed, counted and logged
// rather than surfacing as a decode error inside Raft.
func NewMutualTLS(bind string, advertise net.Addr, certs *CertReloader, onFail FailFunc) (*Layer, error) {
	server := func(raw net.Conn) (net.Conn, string, error) {
		raw.SetDeadline(time.Now().Add(handshakeTimeout))
		tc := tls.Server(raw, certs.ServerConfig(true))
		if err := tc.Handshake(); err != nil {
			return nil, failReason(err, "handshake"), err
		}
		raw.SetDeadline(time.Time{})
		return tc, "", nil
	}
	client := func(raw net.Conn, address string) (net.Conn, string, error) {
		cfg := certs.ClientConfig()
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, "handshake", err
		}
		cfg.ServerName = host
		raw.SetDeadline(time.Now().Add(handshakeTimeout))
		tc := tls.Client(raw, cfg)
		if err := tc.Handshake(); err != nil {
			return nil, failReason(err, "peer_bad_proof"), err
		}
		raw.SetDeadline(time.Time{})
		return tc, "", nil
	}
	return listen(bind, advertise, onFail, server, client)
}
