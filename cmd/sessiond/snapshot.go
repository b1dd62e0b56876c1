package main

import (
	"bufio"
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
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/cluster/reqsign"
	"github.com/sessiond/sessiond/fsm"
)

func (m *Main) snapshotCommands(group groupFunc, leaf leafFunc) *ffcli.Command {
	decl := func(yes bool) func(fs *flag.FlagSet) {
		return func(fs *flag.FlagSet) {
			new(cliFlags).register(fs)
			if yes {
				fs.Bool("yes", false, "do not ask before replacing the cluster's state")
			}
		}
	}
	return group("snapshot", "save, restore or inspect a backup", "sessiond snapshot save|restore|inspect FILE", snapshotLong,
		leaf([]string{"snapshot", "save"}, "write a consistent backup from any node", "sessiond snapshot save [flags] FILE", snapshotLong, decl(false),
			func(ctx context.Context, raw []string) error { return m.runSnapshot(ctx, "save", raw) }),
		leaf([]string{"snapshot", "restore"}, "replace the cluster's state with a backup (asks first)", "sessiond snapshot restore [--yes] [flags] FILE", snapshotLong, decl(true),
			func(ctx context.Context, raw []string) error { return m.runSnapshot(ctx, "restore", raw) }),
		leaf([]string{"snapshot", "inspect"}, "verify a backup file and show what it holds (offline)", "sessiond snapshot inspect FILE", snapshotLong, nil,
			func(ctx context.Context, raw []string) error { return m.snapshotInspect(raw) }))
}

// runSnapshot is `sessiond snapshot save FILE` (a consistent backup from
// any node) and `sessiond snapshot restore FILE` (into the cluster, through
// the leader). A file is verified before it is written in place or sent, so
// a bad one changes nothing.
func (m *Main) runSnapshot(ctx context.Context, verb string, args []string) error {
	var f cliFlags
	var yes bool
	fs := newFlagSet("snapshot "+verb, m.Stderr)
	f.register(fs)
	if verb == "restore" {
		fs.BoolVar(&yes, "yes", false, "do not ask before replacing the cluster's state")
	}
	pos, err := parseCommand(fs, args, m.Env)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("snapshot %s needs exactly one FILE", verb)
	}
	if verb == "restore" && !yes {
		if err := m.confirmRestore(pos[0]); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	key, err := readSecret(m.Env, envClusterKey, f.clusterKeyFile)
	if err != nil {
		return err
	}
	// The key signs each request (see package reqsign); it is never sent.
	hc, err := f.httpClient()
	if err != nil {
		return err
	}
	auth := reqsign.NewSigner(reqsign.Key(string(key)), hc).Sign
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
	if verb == "save" {
		err = m.snapshotSave(ctx, hc, f.addr, auth, pos[0])
	} else {
		err = m.snapshotRestore(ctx, hc, f.addr, auth, pos[0])
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
		return roundTrip(hc, auth, req, func(body io.Reader) error {
			var out struct {
				Sessions int    `json:"sessions"`
				Index    uint64 `json:"index"`
			}
			json.NewDecoder(body).Decode(&out)
			fmt.Fprintf(m.Stdout, "restored %s: %d sessions, cluster at index %d\n", path, out.Sessions, out.Index)
			return nil
		})
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

// confirmRestore shows what the file holds and asks before the whole
// cluster's state is replaced: nothing else the CLI does is as final.
func (m *Main) confirmRestore(path string) error {
	desc, err := describeSnapshot(path)
	if err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
	fmt.Fprintf(m.Stderr, "restore replaces the state of the whole cluster with %s.\nType yes to go on: ", desc)
	line, err := bufio.NewReader(m.Stdin).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		if err != nil {
			return usageErr("snapshot restore: no answer on stdin; give --yes to restore without asking")
		}
		return errors.New("snapshot restore: not confirmed; nothing was sent")
	}
	return nil
}

// snapshotInspect verifies a backup offline and says what it holds.
func (m *Main) snapshotInspect(args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usageErr("snapshot inspect needs exactly one FILE")
	}
	desc, err := describeSnapshot(args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "%s: valid\n", desc)
	return nil
}

func describeSnapshot(path string) (string, error) {
	file, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer file.Close()
	st, index, err := fsm.ReadSnapshot(file)
	if err != nil {
		return "", fmt.Errorf("%s does not verify: %w", path, err)
	}
	users, sessions := st.Counts()
	return fmt.Sprintf("%s (index %d, %d dbs, %d users, %d sessions)", path, index, len(st.DBs()), users, sessions), nil
}
