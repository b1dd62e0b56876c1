// Package testca issues throwaway certificates for tests: a CA and node
// certificates for 127.0.0.1 and localhost, for server and client use,
// written as PEM files. The cluster tests (in-process nodes) and the e2e
// tests (processes) need the same ones, so they share this.
package testca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a throwaway certificate authority whose certificate is File.
type CA struct {
	File string

	t      testing.TB
	dir    string
	name   string
	key    *ecdsa.PrivateKey
	cert   *x509.Certificate
	serial int64
}

// New makes a CA named name and writes its certificate under dir; every
// failure fails t.
func New(t testing.TB, dir, name string) *CA {
	t.Helper()
	c := &CA{t: t, dir: dir, name: name, serial: 1}
	c.key = newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &c.key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	if c.cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	c.File = filepath.Join(dir, name+"-ca.pem")
	writePEM(t, c.File, "CERTIFICATE", der)
	return c
}

// Issue signs a certificate for node and writes it and its key under the
// CA's dir.
func (c *CA) Issue(node string) (certFile, keyFile string) {
	c.t.Helper()
	c.serial++
	key := newKey(c.t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(c.serial), Subject: pkix.Name{CommonName: node},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		c.t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		c.t.Fatal(err)
	}
	certFile = filepath.Join(c.dir, c.name+"-"+node+".pem")
	keyFile = filepath.Join(c.dir, c.name+"-"+node+"-key.pem")
	writePEM(c.t, certFile, "CERTIFICATE", der)
	writePEM(c.t, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
