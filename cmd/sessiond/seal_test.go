package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The seal secret's source: a dedicated key, else the cluster key, else a
// generated file in the data dir (seal.key; a legacy <data-dir>.seal is
// still used); a dedicated key file inside the data dir is refused.
func TestConfig_SealSource(t *testing.T) {
	dd := filepath.Join(t.TempDir(), "data")
	args := []string{"--data-dir", dd}
	c, err := parseServeConfig("serve", args, mapEnv(), io.Discard, false)
	if err != nil || c.Seal.Source != sealGenerated || c.Seal.File != filepath.Join(dd, "seal.key") {
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

// TestSeal_FileInDataDirAndLegacy: a lone node creates seal.key inside
// its data dir (so a container's one volume keeps it); a node upgraded
// from the layout with <data-dir>.seal keeps using that file, and a node
// that moved to another source still unseals with either.
func TestSeal_FileInDataDirAndLegacy(t *testing.T) {
	dd := filepath.Join(t.TempDir(), "data")
	c, err := parseServeConfig("serve", []string{"--data-dir", dd}, mapEnv(), io.Discard, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, created, err := c.Seal.Load(); err != nil || !created {
		t.Fatalf("first start: created=%v %v", created, err)
	}
	if st, err := os.Stat(filepath.Join(dd, "seal.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seal.key in the data dir: %v %v", st, err)
	}

	old := filepath.Join(t.TempDir(), "old")
	legacy := "legacy-seal-secret-0123456789abcdef"
	os.WriteFile(old+".seal", []byte(legacy+"\n"), 0o600)
	c, err = parseServeConfig("serve", []string{"--data-dir", old}, mapEnv(), io.Discard, false)
	if err != nil || c.Seal.File != old+".seal" {
		t.Fatalf("legacy layout: file %q %v", c.Seal.File, err)
	}
	if _, created, err := c.Seal.Load(); err != nil || created || string(c.Seal.Secret) != legacy {
		t.Fatalf("legacy layout: created=%v %v", created, err)
	}
	if _, err := os.Stat(filepath.Join(old, "seal.key")); err == nil {
		t.Fatal("a second seal key was generated beside the legacy one")
	}
	c, err = parseServeConfig("serve", []string{"--data-dir", old}, mapEnv(envClusterKey, testKey), io.Discard, false)
	if err != nil || len(c.Seal.Old) != 1 || string(c.Seal.Old[0]) != legacy {
		t.Fatalf("cluster key over a legacy file: old=%d %v", len(c.Seal.Old), err)
	}
}
