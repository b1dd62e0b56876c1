package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/raft"
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
var ErrTLS = errors.New("cluster: tls")

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

// ServerConfig is a TLS config for a listener. With a CA it requires and
// verifies client certificates (mutual TLS between nodes).
func (r *CertReloader) ServerConfig(requireClientCert bool) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool := r.current()
			c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}}
			if requireClientCert && pool != nil {
				c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pool
			}
			return c, nil
		},
	}
}

// ClientConfig is a TLS config for dialing another member: it presents
// this node's certificate and trusts only the cluster CA.
func (r *CertReloader) ClientConfig() *tls.Config {
	cert, pool := r.current()
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, _ := r.current()
			return c, nil
		},
		Certificates: []tls.Certificate{*cert},
	}
}

// tlsStreamLayer is a raft.StreamLayer over mutual TLS.
type tlsStreamLayer struct {
	net.Listener
	advertise net.Addr
	certs     *CertReloader
}

var _ raft.StreamLayer = (*tlsStreamLayer)(nil)

func newTLSStreamLayer(bind string, advertise net.Addr, certs *CertReloader) (*tlsStreamLayer, error) {
	ln, err := tls.Listen("tcp", bind, certs.ServerConfig(true))
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	return &tlsStreamLayer{Listener: ln, advertise: advertise, certs: certs}, nil
}

// Addr is the advertised address.
func (t *tlsStreamLayer) Addr() net.Addr { return t.advertise }

// Dial opens a mutually authenticated connection to a peer.
func (t *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	cfg := t.certs.ClientConfig()
	host, _, err := net.SplitHostPort(string(address))
	if err != nil {
		return nil, err
	}
	cfg.ServerName = host
	d := &net.Dialer{Timeout: timeout}
	return tls.DialWithDialer(d, "tcp", string(address), cfg)
}
