package fsm

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrent_ReadsDuringApplyAndSnapshot is meant for -race: readers
// use every query while one goroutine applies (as Raft does), another
// writes snapshots, and a final Restore swaps the state under them. Readers
// also check what they see is internally consistent.
func TestConcurrent_ReadsDuringApplyAndSnapshot(t *testing.T) {
	const users, perUser, rounds = 20, 10, 15
	a := &applier{t: t, f: New()}
	for u := 1; u <= users; u++ {
		a.must(newUser(fmt.Sprint("u", u)))
	}
	// Commands for the applier goroutine, encoded up front.
	var log [][]byte
	for r := 0; r < rounds; r++ {
		for u := 1; u <= users; u++ {
			for k := 0; k < perUser; k++ {
				c := newSession(uint64(u), fmt.Sprintf("r%d-u%d-%d", r, u, k))
				c.Session.IdleTimeout = hour
				log = append(log, MustEncode(c))
			}
			log = append(log, MustEncode(&RefreshSessions{Refreshes: []Refresh{
				{Digest: dg(fmt.Sprintf("r%d-u%d-0", r, u)), At: t0 + int64(r+1)},
			}}))
			log = append(log, MustEncode(&RevokeSession{ID: fmt.Sprintf("r%d-u%d-1", r, u), UserID: uint64(u)}))
			if u%5 == 0 {
				log = append(log, MustEncode(&RevokeUserSessions{UserID: uint64(u), KeepID: fmt.Sprintf("r%d-u%d-2", r, u)}))
			}
			log = append(log, MustEncode(&UpdateUser{UserID: uint64(u), Name: sp(fmt.Sprint("n", r))}))
		}
		log = append(log, MustEncode(&PurgeExpired{Now: t0 + 2*hour, Digests: []Digest{dg(fmt.Sprintf("r%d-u1-3", r))}}))
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	fail := make(chan string, 16)
	report := func(format string, args ...any) {
		select {
		case fail <- fmt.Sprintf(format, args...):
		default:
		}
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				st := a.f.State() // fetched per request, as documented
				uid := uint64(1 + (i+w)%users)
				if u, ok := st.User(uid); !ok || u.ID != uid {
					report("User(%d) = %+v, %v", uid, u, ok)
				}
				if u, ok := st.UserByLogin("db1", fmt.Sprint("u", uid)); !ok || u.ID != uid {
					report("UserByLogin(u%d) = %+v", uid, u)
				}
				for _, s := range st.UserSessions(uid) {
					if s.UserID != uid {
						report("UserSessions(%d) holds a session of %d", uid, s.UserID)
					}
					if got, ok := st.Session(s.Digest); ok && got.Digest != s.Digest {
						report("Session(%x) returned %x", s.Digest[:4], got.Digest[:4])
					}
				}
				d := dg(fmt.Sprintf("r%d-u%d-%d", i%rounds, uid, i%perUser))
				if s, ok := st.Session(d); ok && (s.Digest != d || s.UserID != uid) {
					report("Session lookup returned %+v", s)
				}
				st.Counts()
				st.ExpiredSessions(t0+3*hour, 10)
				st.Users("")
				st.Settings()
				reads.Add(1)
			}
		}(w)
	}
	// Snapshots run for as long as the applies do; every one must be a
	// consistent state that reads back.
	applied := make(chan struct{})
	var snaps atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			var b bytes.Buffer
			if _, err := a.f.WriteSnapshot(&b); err != nil {
				report("WriteSnapshot: %v", err)
			}
			if _, _, err := ReadSnapshot(&b); err != nil {
				report("snapshot taken during applies: %v", err)
			}
			a.f.StateHash()
			if fs, err := a.f.Snapshot(); err == nil {
				fs.Persist(&memSink{})
			}
			snaps.Add(1)
			select {
			case <-applied:
				return
			default:
			}
		}
	}()

	for _, e := range log {
		a.applyRaw(e)
	}
	close(applied)
	final := snapshotBytes(t, a.f)
	// Restore is called by Raft instead of Apply, never with it; readers
	// may still be running.
	if err := a.f.Restore(io.NopCloser(bytes.NewReader(final))); err != nil {
		t.Fatal(err)
	}
	close(done)
	wg.Wait()
	close(fail)
	for msg := range fail {
		t.Error(msg)
	}
	t.Logf("%d reads, %d snapshots during %d applies", reads.Load(), snaps.Load(), len(log))
	if reads.Load() == 0 {
		t.Error("no reader ran")
	}
	if snaps.Load() < 2 {
		t.Errorf("only %d snapshots ran during the applies", snaps.Load())
	}
	if !bytes.Equal(snapshotBytes(t, a.f), final) {
		t.Error("restored state differs")
	}
}
