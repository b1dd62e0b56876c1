package api

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPortalPages_Override: a file in the template directory replaces the
// built-in page of that name, the others stay; a broken one refuses to
// start instead of failing the first visitor.
func TestPortalPages_Override(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "signin.html"), []byte(`{{template "head" .}}<p id="custom">Welcome to Example Corp</p>{{template "foot" .}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := loadPortalPages(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.pages["signin.html"].Execute(&b, pageData{Title: "Sign in", Prefix: "/auth/"}); err != nil || !strings.Contains(b.String(), "Example Corp") {
		t.Fatalf("custom page: %v %s", err, b.String())
	}
	b.Reset()
	if err := p.pages["signedout.html"].Execute(&b, pageData{Title: "Signed out", Prefix: "/auth/"}); err != nil || !strings.Contains(b.String(), "signed out") {
		t.Fatalf("built-in page: %v %s", err, b.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "error.html"), []byte(`{{template "head" .}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadPortalPages(dir); err == nil || !strings.Contains(err.Error(), "error.html") {
		t.Fatalf("a broken override: %v", err)
	}
}
