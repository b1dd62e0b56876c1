package transport

import (
	"os"
	"testing"

	"github.com/sessiond/sessiond/internal/testca"
)

func TestCertReloader_Reload(t *testing.T) {
	dir := t.TempDir()
	ca := testca.New(t, dir, "ca1")
	issue := func(node string) TLSFiles {
		cert, key := ca.Issue(node)
		return TLSFiles{CertFile: cert, KeyFile: key, CAFile: ca.File}
	}
	files := issue("a")
	r, err := NewCertReloader(files)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := r.current()
	next := issue("b")
	os.Rename(next.CertFile, files.CertFile)
	os.Rename(next.KeyFile, files.KeyFile)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	after, _ := r.current()
	if string(after.Certificate[0]) == string(before.Certificate[0]) {
		t.Fatal("reload kept the old certificate")
	}
	os.WriteFile(files.CertFile, []byte("garbage"), 0o600)
	if err := r.Reload(); err == nil {
		t.Fatal("reload accepted a broken certificate")
	}
	if kept, _ := r.current(); kept != after {
		t.Fatal("a failed reload dropped the working certificate")
	}
}
