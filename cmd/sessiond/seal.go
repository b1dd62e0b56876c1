package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster/transport"
)

const (
	envSealKey    = "SESSIOND_SEAL_KEY"
	envSealKeyOld = "SESSIOND_SEAL_KEY_OLD"
)

// Where the seal secret comes from, as the start-up log names it.
const (
	sealDedicated = "seal_key"    // SESSIOND_SEAL_KEY or --seal-key-file
	sealCluster   = "cluster_key" // the default: every node holds it, none stores it
	sealGenerated = "seal_file"   // a lone node without a cluster key: <data-dir>/seal.key
)

// SealConfig is the secret the JWT keyring is sealed under (and backups
// are MACed with), and the old ones that only unseal. Its choice is:
// a dedicated SESSIOND_SEAL_KEY (or --seal-key-file), else the cluster
// key, else a key file in the data dir (seal.key), generated on first
// start. The generated file lives in the data dir so that a container
// with one volume, or a node whose parent directory is not writable,
// keeps it across restarts; a lone node with no secret configured has
// nowhere safer to put it. Production clusters configure a dedicated
// key or the cluster key, which no data dir holds.
type SealConfig struct {
	Source string // sealDedicated, sealCluster or sealGenerated
	Secret secret // empty for sealGenerated until Load
	File   string // the key file, if any (sealGenerated: created 0600 if missing)
	Old    []secret
}

func sealFlags(fs *flag.FlagSet, files *secretFiles) {
	fs.StringVar(&files.sealKey, "seal-key-file", "", "`file` holding the seal key the JWT keyring is encrypted under (or "+envSealKey+"); default: the cluster key, else <data-dir>/seal.key, generated")
	fs.StringVar(&files.sealKeyOld, "seal-key-old-file", "", "`file` holding the previous seal key, used only to unseal during a rotation (or "+envSealKeyOld+")")
}

// defaultSealFile is where a lone node keeps its generated seal key.
func defaultSealFile(dataDir string) string { return filepath.Join(dataDir, "seal.key") }

// legacySealFile is where versions before seal.key kept it, beside the
// data dir: still used when it exists and seal.key does not, so an
// upgraded node keeps opening its keyring.
func legacySealFile(dataDir string) string { return filepath.Clean(dataDir) + ".seal" }

// generatedSealFile picks the file a lone node seals with: seal.key,
// unless only the legacy file exists.
func generatedSealFile(dataDir string) string {
	f := defaultSealFile(dataDir)
	if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(legacySealFile(dataDir)); err == nil {
			return legacySealFile(dataDir)
		}
	}
	return f
}

func readSealConfig(env Env, files secretFiles, dataDir string, cluster secret) (SealConfig, error) {
	var c SealConfig
	key, err := readSecret(env, envSealKey, files.sealKey)
	if err != nil {
		return c, err
	}
	old, err := readSecret(env, envSealKeyOld, files.sealKeyOld)
	if err != nil {
		return c, err
	}
	switch {
	case key != "":
		c.Source, c.Secret, c.File = sealDedicated, key, files.sealKey
		if c.File == "" {
			c.File, _ = env(envSealKey + "_FILE")
		}
	case cluster != "":
		c.Source, c.Secret = sealCluster, cluster
	default:
		c.Source, c.File = sealGenerated, generatedSealFile(dataDir)
	}
	if old != "" {
		c.Old = append(c.Old, old)
	}
	// Unseal-only fallbacks, so that moving to another source (a lone
	// node given a cluster key, or a cluster given a dedicated seal key)
	// keeps every key readable until the leader has resealed it.
	if c.Source == sealDedicated && cluster != "" {
		c.Old = append(c.Old, cluster)
	}
	if c.Source != sealGenerated {
		for _, f := range []string{defaultSealFile(dataDir), legacySealFile(dataDir)} {
			if b, err := os.ReadFile(f); err == nil {
				c.Old = append(c.Old, secret(strings.TrimSpace(string(b))))
			}
		}
	}
	return c, nil
}

// check refuses a dedicated seal key file inside the data dir: whoever
// copies the data dir would take with it the key chosen to keep backups
// apart from it.
func (c SealConfig) check(dataDir string) error {
	if c.Source == sealDedicated && c.File != "" && inside(dataDir, c.File) {
		return fmt.Errorf("the seal key file %s is inside the data dir %s; keep it outside (set %s or --seal-key-file)", c.File, dataDir, envSealKey)
	}
	for _, s := range append([]secret{c.Secret}, c.Old...) {
		if s != "" && len(s) < auth.MinSealSecretLen {
			return fmt.Errorf("a seal secret must be at least %d characters", auth.MinSealSecretLen)
		}
	}
	if c.Source == sealDedicated {
		// It MACs backups and seals the keyring: the same offline oracle
		// as the cluster key, so the same rule (keystrength.go). Old
		// secrets only unseal, and are not checked: refusing one would
		// strand what it sealed.
		return checkKeyStrength(envSealKey, string(c.Secret))
	}
	return nil
}

// inside reports whether path is dir or under it.
func inside(dir, path string) bool {
	d, err1 := filepath.Abs(dir)
	p, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Load returns the sealer, first creating the generated key file (0600,
// 32 random bytes in hex, written with O_EXCL so two starts never make
// two keys) when this node seals with one. created reports a new file.
func (c *SealConfig) Load() (s *auth.Sealer, created bool, err error) {
	if c.Source == sealGenerated {
		if c.Secret, created, err = loadOrCreateSealFile(c.File); err != nil {
			return nil, false, err
		}
	}
	old := make([][]byte, 0, len(c.Old))
	for _, o := range c.Old {
		old = append(old, []byte(o))
	}
	s, err = auth.NewSealer([]byte(c.Secret), old...)
	if err != nil {
		return nil, false, fmt.Errorf("seal key: %w", err)
	}
	return s, created, nil
}

func loadOrCreateSealFile(path string) (secret, bool, error) {
	if b, err := os.ReadFile(path); err == nil {
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", false, fmt.Errorf("seal key file %s is empty", path)
		}
		return secret(v), false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("seal key file: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, err
	}
	v := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("seal key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadOrCreateSealFile(path) // another start won the race
	}
	if err != nil {
		return "", false, fmt.Errorf("seal key file: %w", err)
	}
	_, err = f.WriteString(v + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", false, fmt.Errorf("seal key file: %w", err)
	}
	return secret(v), true, nil
}

// loadSeal builds the sealer before the node opens, creating a lone
// node's key file on first start, and names the source (and file) in the
// start-up log: an operator must back that file up with the data dir.
func (s *Server) loadSeal() error {
	sealer, created, err := s.cfg.Seal.Load()
	if err != nil {
		return err
	}
	s.seal = sealer
	kv := []any{"source", s.cfg.Seal.Source, "old_secrets", len(s.cfg.Seal.Old)}
	if macs := sealer.BackupMACKeys(); len(macs) > 0 {
		// Backups made from now on name this id; a restore refused for
		// want of a secret names the id it needs.
		kv = append(kv, "backup_key_id", transport.BackupKeyID(macs[0]))
	}
	if f := s.cfg.Seal.File; f != "" {
		if abs, err := filepath.Abs(f); err == nil {
			f = abs // the log names the file an operator must back up
		}
		kv = append(kv, "file", f)
	}
	if created {
		s.log.Warn("generated a seal key file for the JWT keyring; back it up apart from the data dir: "+
			"without it the signing keys in the data dir and in backups cannot be opened", kv...)
		return nil
	}
	s.log.Info("JWT keyring sealed", kv...)
	return nil
}
