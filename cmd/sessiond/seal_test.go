package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The seal secret's source: a dedicated key, else the cluster key, else a
// generated file beside the data dir; a key file inside it is refused.
func TestConfig_SealSource(t *testing.T) {
	dd := filepath.Join(t.TempDir(), "data")
	args := []string{"--data-dir", dd}
	c, err := parseServeConfig("serve", args, mapEnv(), io.Discard, false)
	if err != nil || c.Seal.Source != sealGenerated || c.Seal.File != dd+".seal" {
		t.Fatalf("no flags: %+v %v", c.Seal, err)
	}
	c, err = parseServeConfig("serve", args, mapEnv(envClusterKey, testKey), io.Discard, false)
	if err != nil || c.Seal.Source != sealCluster || string(c.Seal.Secret) != testKey {
		t.Fatalf("cluster key: %v %v", c.Seal.Source, err)
	}
	c, err = parseServeConfig("serve", args, mapEnv(envClusterKey, testKey, envSealKey, "d_o_If2dpJcPFW4KcDNqdGVjNN9Chs2d0xsKs-qGAzY", envSealKeyOld, "old-seal-key-0123456"), io.Discard, false)
	if err != nil || c.Seal.Source != sealDedicated || len(c.Seal.Old) != 2 {
		t.Fatalf("dedicated: %v old=%d %v", c.Seal.Source, len(c.Seal.Old), err)
	}
	inner := filepath.Join(dd, "seal")
	os.MkdirAll(dd, 0o700)
	os.WriteFile(inner, []byte("a-seal-key-inside-the-data-dir\n"), 0o600)
	if _, err := parseServeConfig("serve", append(args, "--seal-key-file", inner), mapEnv(), io.Discard, false); err == nil || !strings.Contains(err.Error(), "inside the data dir") {
		t.Fatalf("a seal key file inside the data dir: %v", err)
	}
	if _, err := parseServeConfig("serve", args, mapEnv(envSealKey, "short"), io.Discard, false); err == nil {
		t.Fatal("a short seal key was accepted")
	}
}
