package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// Token pools. Every prefilled token is derived from its pool and number,
// so the driver, wrk's token file, the baseline and the comparison targets
// all hold the same tokens without passing them around.
const (
	kindValidate  = 'v' // validated, never revoked
	kindLogout    = 'o' // each logged out once
	kindLogoutAll = 'a' // one per logoutall user, ended by logoutall
	kindMinUser   = 'm' // users with minimal argon2id hashes
	kindProdUser  = 'p' // users with production argon2id hashes
	kindAllUser   = 'u' // users of the logoutall pool
)

// Passwords of the prefilled users; they are benchmark fixtures, not
// secrets.
const (
	minPassword  = "bench-minimal-password"
	prodPassword = "bench-production-password"
)

// tokenFor is the 64-hex token of pool kind, number i.
func tokenFor(kind byte, i int) string {
	h := sha256.Sum256([]byte("sessiond-bench/" + string(kind) + "/" + strconv.Itoa(i)))
	return hex.EncodeToString(h[:])
}

// sessionID is the 32-hex public ID of a prefilled session.
func sessionID(kind byte, i int) string { return tokenFor(kind, i)[:32] }

func userLogin(kind byte, i int) string { return string(kind) + strconv.Itoa(i) }

// plan sizes the prefill.
type plan struct {
	Sessions      int // validation pool
	MinUsers      int
	ProdUsers     int
	LogoutPool    int
	LogoutAllPool int
}

// buildState takes a backup of the running cluster (so members, the admin
// and the keyring survive), adds the plan's users and sessions by applying
// ordinary commands to an FSM in this process, and returns the new
// snapshot. Prefilling 1M sessions this way takes seconds; through the
// login API it takes minutes, and the result is the same state.
func buildState(backup io.Reader, p plan) ([]byte, error) {
	f := fsm.New()
	if err := f.Restore(io.NopCloser(backup)); err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	db := "sessiond"
	if dbs := f.State().DBs(); len(dbs) > 0 {
		db = dbs[0]
	}
	minHash, err := auth.HashPassword(minPassword, auth.MinimalHashParams())
	if err != nil {
		return nil, err
	}
	prodHash, err := auth.HashPassword(prodPassword, auth.DefaultHashParams())
	if err != nil {
		return nil, err
	}
	idx := f.AppliedIndex()
	now := time.Now().UnixNano()
	apply := func(c fsm.Command) (fsm.Result, error) {
		data, err := fsm.Encode(c)
		if err != nil {
			return fsm.Result{}, err
		}
		idx++
		res := f.ApplyEntry(idx, data)
		return res, res.Err()
	}
	mkUsers := func(kind byte, n int, hash string) ([]uint64, error) {
		ids := make([]uint64, n)
		for i := range ids {
			res, err := apply(&fsm.CreateUser{Nonce: "bench-" + userLogin(kind, i), DB: db, Login: userLogin(kind, i), PasswordHash: hash, Now: now})
			if err != nil {
				return nil, fmt.Errorf("user %s: %w", userLogin(kind, i), err)
			}
			ids[i] = res.UserID
		}
		return ids, nil
	}
	// The benchmark's users hold thousands of sessions each: no cap.
	set := f.State().Settings()
	set.MaxSessionsPerUser = 0
	if _, err := apply(&fsm.SetSettings{Settings: set}); err != nil {
		return nil, err
	}
	minIDs, err := mkUsers(kindMinUser, p.MinUsers, minHash)
	if err != nil {
		return nil, err
	}
	if _, err := mkUsers(kindProdUser, p.ProdUsers, prodHash); err != nil {
		return nil, err
	}
	allIDs, err := mkUsers(kindAllUser, p.LogoutAllPool, minHash)
	if err != nil {
		return nil, err
	}
	ttl := int64(30 * 24 * time.Hour)
	mkSession := func(kind byte, i int, uid uint64) error {
		_, err := apply(&fsm.CreateSession{Session: fsm.Session{
			ID: sessionID(kind, i), Digest: fsm.Digest(auth.DigestToken(tokenFor(kind, i))), Kind: fsm.KindNative,
			UserID: uid, DB: db, Created: now, LastRefresh: now, ExpiresAt: now + ttl, UserAgent: "sessiond-bench",
		}})
		return err
	}
	for i := 0; i < p.Sessions; i++ {
		if err := mkSession(kindValidate, i, minIDs[i%len(minIDs)]); err != nil {
			return nil, err
		}
	}
	for i := 0; i < p.LogoutPool; i++ {
		if err := mkSession(kindLogout, i, minIDs[i%len(minIDs)]); err != nil {
			return nil, err
		}
	}
	for i, uid := range allIDs {
		if err := mkSession(kindLogoutAll, i, uid); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteSnapshot(&buf); err != nil {
		return nil, err
	}
	return macBackup(buf.Bytes())
}

// macBackup appends the trailer cluster/transport/backupmac.go wants on a restore:
// "SDBKMAC1" and an HMAC-SHA256 of the snapshot under the backup key the
// nodes derive from their seal secret (the cluster key here).
func macBackup(snap []byte) ([]byte, error) {
	s, err := auth.NewSealer([]byte(benchClusterKey))
	if err != nil {
		return nil, err
	}
	h := hmac.New(sha256.New, s.BackupMACKeys()[0])
	h.Write(snap)
	return h.Sum(append(snap, "SDBKMAC1"...)), nil
}

// prefill replaces the cluster's state with the plan's through the
// backup and restore endpoints, and waits until every node holds it.
func (c *sdCluster) prefill(ctx context.Context, p plan) error {
	t0 := time.Now()
	resp, err := c.adminDo(ctx, c.nodes[0], "GET", "/v1/cluster/snapshot", nil)
	if err != nil {
		return err
	}
	backup, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("backup: %d %v", resp.StatusCode, err)
	}
	snap, err := buildState(bytes.NewReader(backup), p)
	if err != nil {
		return err
	}
	built := time.Since(t0)
	// A leader change on a loaded machine can fail a restore; it changes
	// nothing then, so it is tried again (at most 5 times). The plan's
	// sessions are what the benchmark validates: keep_sessions stops the
	// restore from ending them (a binary before issue 22 ignores it and
	// keeps them anyway).
	for attempt := 1; ; attempt++ {
		resp, err = c.adminDo(ctx, c.nodes[0], "POST", "/v1/cluster/restore?keep_sessions=true", bytes.NewReader(snap))
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if attempt == 5 {
			return fmt.Errorf("restore: %d %s", resp.StatusCode, body)
		}
		logf("prefill: restore attempt %d: %d %s; retrying", attempt, resp.StatusCode, bytes.TrimSpace(body))
		time.Sleep(2 * time.Second)
	}
	want := p.Sessions + p.LogoutPool + p.LogoutAllPool
	for _, n := range c.nodes {
		// Five minutes, and one more per million sessions (--huge).
		wait := 5*time.Minute + time.Duration(want/1_000_000)*time.Minute
		err := waitFor(ctx, wait, "prefill on "+n.id, n.proc, func() bool {
			st, err := c.status(ctx, n)
			return err == nil && st.Sessions >= want && st.Ready
		})
		if err != nil {
			return err
		}
	}
	logf("prefill: %d sessions, %d+%d+%d users, snapshot %.1f MB built in %v, replicated in %v",
		want, p.MinUsers, p.ProdUsers, p.LogoutAllPool, float64(len(snap))/1e6, built.Round(time.Millisecond), (time.Since(t0) - built).Round(time.Millisecond))
	return nil
}

// writeTokenFile writes n validation tokens, one a line, for wrk.
func writeTokenFile(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i := 0; i < n; i++ {
		w.WriteString(tokenFor(kindValidate, i))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
