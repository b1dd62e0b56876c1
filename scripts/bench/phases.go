package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// phaseFlood measures validation on a follower alone, then while
// production-hash logins flood every node, and the logins' own rate. The
// flood's concurrency is above the hash pools' size on purpose.
func (r *runner) phaseFlood(ctx context.Context, round int) error {
	if round == 1 {
		r.extras["argon2id_prod_ms"] = hashMillis()
	}
	_, followers, err := r.sd.roles(ctx)
	if err != nil {
		return err
	}
	r.floodOn(ctx, round, r.sd, followers[0], r.sd.nodes, "follower")
	return nil
}

// hashMillis is the median time of one production argon2id hash in this
// process (the "one hash's time" of the login target).
func hashMillis() float64 {
	var ms []float64
	for i := 0; i < 7; i++ {
		t0 := time.Now()
		auth.HashPassword("bench", auth.DefaultHashParams())
		ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
	}
	return median(ms[1:]) // the first pays for fresh pages
}

// phaseSnapshot measures validation on a follower alone and while that
// follower serialises its whole state back to back (GET
// /v1/cluster/snapshot: the FSM snapshot a Raft snapshot persists, sent
// over loopback instead of written to a file).
func (r *runner) phaseSnapshot(ctx context.Context, round int) error {
	_, followers, err := r.sd.roles(ctx)
	if err != nil {
		return err
	}
	f := followers[0]
	vc := r.cfg.floodValConc
	vt := r.sdTarget("sessiond", followers[:1], "", vc)
	alone := r.goRun(ctx, r.sd.cpuSeconds, vc, validateOp(vt, r.cfg.plan.Sessions))
	r.record(alone, "sessiond", "validate-alone", "follower", round)
	stop := make(chan struct{})
	var snaps []float64
	var bytes int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.Now().Add(r.cfg.warmup + r.cfg.d + 5*time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			resp, err := r.sd.adminDo(ctx, f, "GET", "/v1/cluster/snapshot", nil)
			if err != nil {
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				snaps = append(snaps, time.Since(t0).Seconds())
				bytes = n
			}
		}
	}()
	during := r.goRun(ctx, r.sd.cpuSeconds, vc, validateOp(vt, r.cfg.plan.Sessions))
	close(stop)
	wg.Wait()
	during.Note = fmt.Sprintf("%d snapshots of %.1f MB, median %.3f s each", len(snaps), float64(bytes)/1e6, median(snaps))
	r.record(during, "sessiond", "validate-during-snapshot", "follower", round)
	r.extras[fmt.Sprintf("snapshot_stream_s_round%d", round)] = median(snaps)
	return nil
}

// phaseStartup stops a follower cleanly, starts it again with the same
// data dir, and measures until /readyz answers 200 (it has restored its
// snapshot, replayed its log, found the leader and holds a read lease).
func (r *runner) phaseStartup(ctx context.Context, round int) error {
	_, followers, err := r.sd.roles(ctx)
	if err != nil {
		return err
	}
	n := followers[len(followers)-1]
	n.proc.stop(30 * time.Second)
	t0 := time.Now()
	if err := r.sd.startNode(n); err != nil {
		return err
	}
	if err := waitFor(ctx, 2*time.Minute, n.id+" ready after restart", n.proc, func() bool { return httpOK(n.url + "/readyz") }); err != nil {
		return err
	}
	ready := time.Since(t0).Seconds()
	st, _ := r.sd.status(ctx, n)
	restore, _ := r.sd.metric(ctx, n, "sessiond_snapshot_restore_duration_seconds_sum")
	logf("startup: %s ready %.3f s after start with %d sessions (snapshot restore %.3f s)", n.id, ready, st.Sessions, restore)
	r.extras[fmt.Sprintf("startup_round%d", round)] = map[string]any{"node": n.id, "ready_s": ready, "sessions": st.Sessions, "restore_s": restore}
	return nil
}

// phaseFailover kills the leader with SIGKILL and measures until a write
// (a minimal-hash login) succeeds through a survivor; the killed node is
// restarted and the cluster waited for between rounds.
func (r *runner) phaseFailover(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	var times []float64
	for i := 1; i <= r.cfg.failovers; i++ {
		leader, followers, err := r.sd.roles(ctx)
		if err != nil {
			return err
		}
		t := r.sdTarget("sessiond", followers, "", 4)
		t.client = client
		t0 := time.Now()
		leader.proc.Kill()
		var ok time.Duration
		for k := 0; time.Since(t0) < 30*time.Second; k++ {
			if _, err := t.login(ctx, k, userLogin(kindMinUser, k%r.cfg.plan.MinUsers), minPassword); err == nil {
				ok = time.Since(t0)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if ok == 0 {
			return fmt.Errorf("failover %d: no write succeeded within 30 s", i)
		}
		times = append(times, ok.Seconds())
		logf("failover %d: killed %s, writes succeed again after %.3f s", i, leader.id, ok.Seconds())
		if err := r.sd.startNode(leader); err != nil {
			return err
		}
		for _, n := range r.sd.nodes {
			if err := waitFor(ctx, 2*time.Minute, n.id+" ready", n.proc, func() bool { return httpOK(n.url + "/readyz") }); err != nil {
				return err
			}
		}
	}
	r.extras["failover_s"] = times
	r.extras["failover_median_s"] = median(times)
	return nil
}

// phaseMemory measures, in this process, the live heap one session costs
// in the FSM (digest index, per-user index and the value, as restored
// from the same snapshot a node restores), and the time to persist
// (write + fsync) and restore a snapshot of that state. It also reports
// each node's RSS per session, an upper bound that includes GC headroom.
func (r *runner) phaseMemory(ctx context.Context) error {
	n := r.cfg.plan.Sessions
	if r.cfg.memorySessions > 0 {
		n = r.cfg.memorySessions
	}
	users := r.cfg.plan.MinUsers
	f := fsm.New()
	idx := uint64(0)
	apply := func(c fsm.Command) error {
		data, err := fsm.Encode(c)
		if err != nil {
			return err
		}
		idx++
		return f.ApplyEntry(idx, data).Err()
	}
	if err := apply(&fsm.CreateDB{Name: "sessiond"}); err != nil {
		return err
	}
	// Thousands of sessions per user at 1M and beyond: no per-user cap.
	set := f.State().Settings()
	set.MaxSessionsPerUser = 0
	if err := apply(&fsm.SetSettings{Settings: set}); err != nil {
		return err
	}
	hash, _ := auth.HashPassword(minPassword, auth.MinimalHashParams())
	for u := 0; u < users; u++ {
		if err := apply(&fsm.CreateUser{Nonce: userLogin(kindMinUser, u), DB: "sessiond", Login: userLogin(kindMinUser, u), PasswordHash: hash, Now: 1}); err != nil {
			return err
		}
	}
	now := time.Now().UnixNano()
	for i := 0; i < n; i++ {
		if err := apply(&fsm.CreateSession{Session: fsm.Session{
			ID: sessionID(kindValidate, i), Digest: fsm.Digest(auth.DigestToken(tokenFor(kindValidate, i))), Kind: fsm.KindNative,
			UserID: uint64(1 + i%users), DB: "sessiond", Created: now, LastRefresh: now, ExpiresAt: now + int64(30*24*time.Hour), UserAgent: "sessiond-bench",
		}}); err != nil {
			return err
		}
	}
	path := filepath.Join(r.cfg.root, "memory.snap")
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	t0 := time.Now()
	size, err := f.WriteSnapshot(file)
	if err == nil {
		err = file.Sync()
	}
	file.Close()
	persist := time.Since(t0).Seconds()
	if err != nil {
		return err
	}
	f = nil
	// The heap is measured on a restored state, as a node holds it after
	// a restart: users are counted by restoring a state without sessions.
	before := liveHeap()
	file, err = os.Open(path)
	if err != nil {
		return err
	}
	t0 = time.Now()
	st, _, err := fsm.ReadSnapshot(file)
	restore := time.Since(t0).Seconds()
	file.Close()
	os.Remove(path)
	if err != nil {
		return err
	}
	after := liveHeap()
	_, got := st.Counts()
	runtime.KeepAlive(st)
	perSession := float64(after-before) / float64(got)
	m := map[string]any{
		"sessions": got, "users": users, "heap_bytes_per_session_incl_users": perSession,
		"snapshot_bytes": size, "snapshot_persist_s": persist, "snapshot_restore_s": restore,
	}
	for _, nd := range r.sd.nodes {
		if nd.proc != nil && nd.proc.Running() {
			if s, err := r.sd.status(ctx, nd); err == nil && s.Sessions > 0 {
				m["rss_bytes_per_session_"+nd.id] = float64(nd.proc.rssBytes()) / float64(s.Sessions)
			}
		}
	}
	logf("memory: %d sessions: %.0f B/session heap (users included), snapshot %.1f MB persist %.3f s restore %.3f s",
		got, perSession, float64(size)/1e6, persist, restore)
	r.extras["memory"] = m
	return nil
}

func liveHeap() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
