package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/sessiond/sessiond/api/client"
	"github.com/sessiond/sessiond/cluster/reqsign"
	"github.com/sessiond/sessiond/cluster/transport"
	"github.com/sessiond/sessiond/fsm"
)

func (m *Main) snapshotCommands(group groupFunc, leaf leafFunc) *ffcli.Command {
	decl := func(yes bool) func(fs *flag.FlagSet) {
		return func(fs *flag.FlagSet) {
			new(cliFlags).register(fs)
			if !yes {
				fs.Bool("force", false, "replace FILE if it exists")
			}
			if yes {
				fs.Bool("yes", false, "do not ask before replacing the cluster's state")
				fs.Bool("keep-sessions", false, "keep the backup's sessions and tokens valid (default: end every one issued before the restore and start a fresh signing key)")
			}
		}
	}
	return group("snapshot", "save, restore or inspect a backup", "sessiond snapshot save|restore|inspect FILE", snapshotLong,
		leaf([]string{"snapshot", "save"}, "write a consistent backup from any node", "sessiond snapshot save [flags] FILE", snapshotLong, decl(false),
			func(ctx context.Context, raw []string) error { return m.runSnapshot(ctx, "save", raw) }),
		leaf([]string{"snapshot", "restore"}, "replace the cluster's state with a backup (asks first)", "sessiond snapshot restore [--yes] [--keep-sessions] [flags] FILE", snapshotLong, decl(true),
			func(ctx context.Context, raw []string) error { return m.runSnapshot(ctx, "restore", raw) }),
		leaf([]string{"snapshot", "inspect"}, "verify a backup file (its MAC too, given the key) and show what it holds (offline)", "sessiond snapshot inspect [--cluster-key-file F] FILE", snapshotLong,
			func(fs *flag.FlagSet) { inspectFlags(fs, new(string), new(string)) },
			func(ctx context.Context, raw []string) error { return m.snapshotInspect(raw) }))
}

// runSnapshot is `sessiond snapshot save FILE` (a consistent backup from
// any node) and `sessiond snapshot restore FILE` (into the cluster, through
// the leader). A file is verified before it is written in place or sent, so
// a bad one changes nothing.
func (m *Main) runSnapshot(ctx context.Context, verb string, args []string) error {
	var f cliFlags
	var yes, keep, force bool
	fs := newFlagSet("snapshot "+verb, m.Stderr)
	f.register(fs)
	if verb == "save" {
		fs.BoolVar(&force, "force", false, "replace FILE if it exists")
	}
	if verb == "restore" {
		fs.BoolVar(&yes, "yes", false, "do not ask before replacing the cluster's state")
		fs.BoolVar(&keep, "keep-sessions", false, "keep the backup's sessions and tokens valid")
	}
	pos, err := parseCommand(fs, args, m.Env)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("snapshot %s needs exactly one FILE", verb)
	}
	if verb == "save" && !force {
		// Refused before the node is asked: an older backup is worth
		// more than a second copy of now.
		if _, err := os.Lstat(pos[0]); err == nil {
			return usageErr("snapshot save: %s exists; give --force to replace it", pos[0])
		}
	}
	var desc string
	if verb == "restore" {
		// Checked before anything is sent: given a key, the MAC too (a
		// cluster with a dedicated seal key needs SESSIOND_SEAL_KEY here).
		keys, err := macKeys(m.Env, f.clusterKeyFile, "")
		if err != nil {
			return err
		}
		info, err := checkBackup(pos[0], keys)
		if err != nil {
			return fmt.Errorf("snapshot restore: nothing was sent: %w", err)
		}
		desc = info.describe(pos[0])
	}
	// Each call gets --timeout of its own, so the time an operator takes
	// to read the restore's warning and answer is not taken from the
	// restore itself.
	step := func(run func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, f.timeout)
		defer cancel()
		return run(ctx)
	}
	key, err := readSecret(m.Env, envClusterKey, f.clusterKeyFile)
	if err != nil {
		return err
	}
	hc, err := f.httpClient()
	if err != nil {
		return err
	}
	// The key signs each request for the node it reaches (see package
	// reqsign); it is never sent.
	auth := reqsign.NewSigner(reqsign.Key(string(key)), hc).Sign
	if key == "" {
		c, err := m.client(&f)
		if err != nil {
			return err
		}
		var token string
		var logout func()
		err = step(func(ctx context.Context) (err error) {
			token, logout, err = m.adminSession(ctx, c, &f)
			return err
		})
		switch {
		case errors.Is(err, errUsage), errors.Is(err, client.ErrBadCredentials):
			return fmt.Errorf("snapshot needs %s (or _FILE) or the admin's password: %w", envClusterKey, err)
		case err != nil: // unreachable, or the node's own error: not the credentials
			return fmt.Errorf("snapshot %s: %w", verb, err)
		}
		defer logout()
		auth = func(r *http.Request) error { r.Header.Set("Authorization", "Bearer "+token); return nil }
	}
	switch {
	case verb == "save":
		err = step(func(ctx context.Context) error { return m.snapshotSave(ctx, hc, f.addr, auth, pos[0], force) })
	case !yes:
		err = m.confirmRestore(step, hc, f.addr, auth, pos[0], desc, keep)
	}
	if verb == "restore" && err == nil {
		err = step(func(ctx context.Context) error { return m.snapshotRestore(ctx, hc, f.addr, auth, pos[0], keep) })
	}
	if key != "" && errors.Is(err, client.ErrForbidden) {
		return keyRefused(err)
	}
	return err
}

// roundTrip signs req, sends it and hands the body of a 200 to read; any
// other status is the node's error (httpError).
func roundTrip(hc *http.Client, auth func(*http.Request) error, req *http.Request, read func(body io.Reader) error) error {
	if err := auth(req); err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httpError(resp)
	}
	return read(resp.Body)
}

// eachAddr tries the comma-separated addresses in turn until one answers.
func eachAddr(addrs string, fn func(base string) error) error {
	var last error
	for _, a := range strings.Split(addrs, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if last = fn(strings.TrimRight(a, "/")); last == nil {
			return nil
		}
	}
	return last
}

func (m *Main) snapshotSave(ctx context.Context, hc *http.Client, addrs string, auth func(*http.Request) error, path string, force bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sessiond-snapshot-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	err = eachAddr(addrs, func(base string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/cluster/snapshot", nil)
		if err != nil {
			return err
		}
		return roundTrip(hc, auth, req, func(body io.Reader) error {
			tmp.Truncate(0)
			tmp.Seek(0, io.SeekStart)
			_, err := io.Copy(tmp, body)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	// The structure only: the tool may hold the cluster key while the
	// cluster MACs under a dedicated seal key; inspect checks the MAC.
	info, err := checkBackup(tmp.Name(), nil)
	if err != nil {
		return fmt.Errorf("snapshot save: the downloaded file does not verify: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if force {
		err = os.Rename(tmp.Name(), path)
	} else {
		// Link fails if path appeared meanwhile: never overwrite unasked.
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	users, sessions := info.state.Counts()
	fmt.Fprintf(m.Stdout, "saved %s: index %d, %d users, %d sessions\n", path, info.index, users, sessions)
	return nil
}

// readBackup checks a backup file as far as a tool without the seal
// secret can: the MAC trailer is there and the snapshot before it is
// whole (magic, version, every record, checksum). The MAC itself is
// verified by the node, before it proposes anything.
func readBackup(f *os.File) (*fsm.State, uint64, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	payload, _, err := transport.SplitBackup(f, info.Size())
	if err != nil {
		return nil, 0, err
	}
	return fsm.ReadSnapshot(io.NewSectionReader(f, 0, payload))
}

// httpError reads the native error body of a failed call.
func httpError(resp *http.Response) error {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
	return &client.Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
}
