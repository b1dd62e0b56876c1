package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/sessiond/sessiond/api/client"
)

// restoreAnswer is what the node answers a restore and a restore check
// (api/restore.go): the backup beside the cluster, and what the restore
// did about what the backup brings back.
type restoreAnswer struct {
	Warning  string `json:"warning"`
	Sessions int    `json:"sessions"`
	Index    uint64 `json:"index"`
	After    *struct {
		EndedSessions int      `json:"ended_sessions"`
		NewKid        string   `json:"new_kid"`
		RetiredKids   []string `json:"retired_kids"`
		RevokedKids   []string `json:"revoked_again_kids"`
		KeptKid       string   `json:"kept_configured_kid"`
	} `json:"after_restore"`
}

// postBackup sends the verified backup file to path on the first node
// that answers and decodes its answer.
func postBackup(ctx context.Context, hc *http.Client, addrs string, auth func(*http.Request) error, file *os.File, path string) (restoreAnswer, error) {
	var out restoreAnswer
	err := eachAddr(addrs, func(base string) error {
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, file)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		return roundTrip(hc, auth, req, func(body io.Reader) error {
			return json.NewDecoder(body).Decode(&out)
		})
	})
	return out, err
}

func openBackup(path string) (*os.File, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if _, _, err := readBackup(file); err != nil {
		file.Close()
		return nil, fmt.Errorf("%s does not verify, nothing was sent: %w", path, err)
	}
	return file, nil
}

// confirmRestore shows what the file holds, has the node check it (its MAC
// too) and say what a restore would bring back, and asks before the whole
// cluster's state is replaced: nothing else the CLI does is as final. A
// node too old to check (404) leaves the offline description and a
// general warning.
func (m *Main) confirmRestore(step func(func(context.Context) error) error, hc *http.Client, addrs string, auth func(*http.Request) error, path, desc string, keep bool) error {
	file, err := openBackup(path)
	if err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
	defer file.Close()
	var check restoreAnswer
	err = step(func(ctx context.Context) (err error) {
		check, err = postBackup(ctx, hc, addrs, auth, file, "/v1/cluster/restore/check"+keepQuery(keep))
		return err
	})
	var ce *client.Error
	switch {
	case errors.As(err, &ce) && ce.Status == http.StatusNotFound:
		check.Warning = "The node cannot check the backup (an older binary). A restore brings back everything ended since the backup: logged-out sessions, old passwords, deleted service clients and users, admin rights, revoked keys."
	case err != nil:
		return fmt.Errorf("snapshot restore: checking %s: %w", path, err)
	}
	fmt.Fprintf(m.Stderr, "restore replaces the state of the whole cluster with %s.\n%s\nType yes to go on: ", desc, check.Warning)
	line, err := bufio.NewReader(m.Stdin).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		if err != nil {
			return usageErr("snapshot restore: no answer on stdin; give --yes to restore without asking")
		}
		return errors.New("snapshot restore: not confirmed; nothing was sent")
	}
	return nil
}

func keepQuery(keep bool) string {
	if keep {
		return "?keep_sessions=true"
	}
	return ""
}

// snapshotRestore sends the file and reports what the node did: the
// counts, and unless keep, the sessions ended and the fresh key. An older
// node that ended nothing is named as such.
func (m *Main) snapshotRestore(ctx context.Context, hc *http.Client, addrs string, auth func(*http.Request) error, path string, keep bool) error {
	file, err := openBackup(path)
	if err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
	defer file.Close()
	out, err := postBackup(ctx, hc, addrs, auth, file, "/v1/cluster/restore"+keepQuery(keep))
	if err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
	fmt.Fprintf(m.Stdout, "restored %s: %d sessions, cluster at index %d\n", path, out.Sessions, out.Index)
	switch a := out.After; {
	case keep:
		fmt.Fprintln(m.Stdout, "kept the backup's sessions and tokens (--keep-sessions)")
	case a == nil:
		fmt.Fprintln(m.Stdout, "warning: the node ended no session (an older binary): end them with DELETE /v1/users/{id}/sessions and rotate the JWT key (POST /v1/keys)")
	default:
		fmt.Fprintf(m.Stdout, "ended %d sessions issued before the restore; new signing key %s active", a.EndedSessions, a.NewKid)
		if len(a.RetiredKids) > 0 {
			fmt.Fprintf(m.Stdout, "; retired %s", strings.Join(a.RetiredKids, ", "))
		}
		if len(a.RevokedKids) > 0 {
			fmt.Fprintf(m.Stdout, "; revoked again %s", strings.Join(a.RevokedKids, ", "))
		}
		if a.KeptKid != "" {
			fmt.Fprintf(m.Stdout, "; the Odoo JWT dialect keeps the configured shared secret %s (change SESSIOND_JWT_KEY to rotate it)", a.KeptKid)
		}
		fmt.Fprintln(m.Stdout)
	}
	if out.Warning != "" {
		fmt.Fprintln(m.Stdout, out.Warning)
	}
	return nil
}
