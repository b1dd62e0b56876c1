package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/sessiond/sessiond/api/client"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/cluster/reqsign"
	"github.com/sessiond/sessiond/fsm"
)

// runSnapshot is `sessiond snapshot save FILE` (a consistent backup from
// any node) and `sessiond snapshot restore FILE` (into the cluster, through
// the leader). A file is verified before it is written in place or sent, so
// a bad one changes nothing.
func (m *Main) runSnapshot(ctx context.Context, args []string) error {
	var f cliFlags
	fs := newFlagSet("snapshot", m.Stderr)
	f.register(fs)
	pos, err := parseCommand(fs, args, m.Env)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[0] != "save" && pos[0] != "restore") {
		return usageErr("usage: sessiond snapshot save|restore FILE")
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	key, err := readSecret(m.Env, envClusterKey, f.clusterKeyFile)
	if err != nil {
		return err
	}
	// The key signs each request (see package reqsign); it is never sent.
	signKey := reqsign.Key(string(key))
	auth := func(r *http.Request) error { return reqsign.Sign(r, signKey) }
	if key == "" {
		c, err := m.client(&f)
		if err != nil {
			return err
		}
		token, logout, err := m.adminSession(ctx, c, &f)
		if err != nil {
			return fmt.Errorf("snapshot needs %s (or _FILE) or the admin's password: %w", envClusterKey, err)
		}
		defer logout()
		auth = func(r *http.Request) error { r.Header.Set("Authorization", "Bearer "+token); return nil }
	}
	hc, err := f.httpClient()
	if err != nil {
		return err
	}
	if pos[0] == "save" {
		return m.snapshotSave(ctx, hc, f.addr, auth, pos[1])
	}
	return m.snapshotRestore(ctx, hc, f.addr, auth, pos[1])
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

func (m *Main) snapshotSave(ctx context.Context, hc *http.Client, addrs string, auth func(*http.Request) error, path string) error {
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
		tmp.Truncate(0)
		tmp.Seek(0, io.SeekStart)
		_, err = io.Copy(tmp, resp.Body)
		return err
	})
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	st, index, err := readBackup(tmp)
	if err != nil {
		return fmt.Errorf("snapshot save: the downloaded file does not verify: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	users, sessions := st.Counts()
	fmt.Fprintf(m.Stdout, "saved %s: index %d, %d users, %d sessions\n", path, index, users, sessions)
	return nil
}

func (m *Main) snapshotRestore(ctx context.Context, hc *http.Client, addrs string, auth func(*http.Request) error, path string) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	if _, _, err := readBackup(file); err != nil {
		return fmt.Errorf("snapshot restore: %s does not verify, nothing was sent: %w", path, err)
	}
	err = eachAddr(addrs, func(base string) error {
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/cluster/restore", file)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
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
		var out struct {
			Sessions int    `json:"sessions"`
			Index    uint64 `json:"index"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		fmt.Fprintf(m.Stdout, "restored %s: %d sessions, cluster at index %d\n", path, out.Sessions, out.Index)
		return nil
	})
	if err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
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
	payload, _, err := cluster.SplitBackup(f, info.Size())
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
