package fsm

import (
	"cmp"
	"encoding/binary"
	"runtime"
	"slices"
	"sync"
)

// installSessions puts a restored snapshot's sessions, in snapshot order,
// into a state that has none yet. It gives the same state putSession one
// by one would, but sizes every map and per-user slice exactly first and
// fills the 64 shards in parallel: at millions of sessions, rehashing and
// append growth were most of the restore time, and append's spare capacity
// part of the heap (issue 16). The state is private until Restore swaps it
// in, so nothing else takes its locks.
//
// A snapshot this binary writes never repeats a digest. One that does
// (corrupt, or a writer with a bug) is built by putSession one by one
// instead, so it restores exactly as it always did: the later session of a
// digest replaces the earlier.
func (s *State) installSessions(sessions []*Session) {
	if !s.installSessionsFast(sessions) {
		s.installSessionsOneByOne(sessions)
	}
}

func (s *State) installSessionsOneByOne(sessions []*Session) {
	for i := range s.shards {
		s.shards[i].m, s.shards[i].clash = newShardMap(0), nil
	}
	s.byUser = make(map[uint64][]*Session)
	s.sessions.Store(0)
	for _, sess := range sessions {
		s.putSession(sess)
	}
}

// installSessionsFast builds the indexes exactly sized, and reports false,
// leaving them half-built, when a digest repeats.
func (s *State) installSessionsFast(sessions []*Session) bool {
	var perShard [shardCount]int
	for _, sess := range sessions {
		perShard[sess.Digest[0]%shardCount]++
	}
	byShard := make([][]*Session, shardCount)
	for i, n := range perShard {
		byShard[i] = make([]*Session, 0, n)
	}
	for _, sess := range sessions {
		i := sess.Digest[0] % shardCount
		byShard[i] = append(byShard[i], sess)
	}

	var wg sync.WaitGroup
	// The per-user index runs beside the shards: it touches only byUser.
	wg.Go(func() { s.byUser = buildByUser(sessions) })
	workers := max(1, runtime.GOMAXPROCS(0))
	dup := make([]bool, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < shardCount; i += workers {
				sh := &s.shards[i]
				sh.m = newShardMap(len(byShard[i]))
				for _, sess := range byShard[i] {
					if _, existed := sh.put(sess); existed {
						dup[w] = true
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if slices.Contains(dup, true) {
		return false
	}
	s.sessions.Store(int64(len(sessions)))
	return true
}

// buildByUser is the per-user index with each list exactly as long as the
// user's sessions and in snapshot order, the order putSession appends in.
func buildByUser(sessions []*Session) map[uint64][]*Session {
	counts := make(map[uint64]int)
	for _, sess := range sessions {
		counts[sess.UserID]++
	}
	byUser := make(map[uint64][]*Session, len(counts))
	for uid, n := range counts {
		byUser[uid] = make([]*Session, 0, n)
	}
	for _, sess := range sessions {
		byUser[sess.UserID] = append(byUser[sess.UserID], sess)
	}
	return byUser
}

// digestOrder is a session with its digest's first word beside it, so that
// sorting compares values in one array instead of chasing millions of
// pointers.
type digestOrder struct {
	w0   uint64
	sess *Session
}

// sortByDigest sorts ss by digest, the snapshot's session order. The
// sessions are bucketed by the digest's first byte (a counting pass), then
// the 256 buckets are sorted on GOMAXPROCS goroutines. Equal first words
// (rare for SHA-256 digests) fall back to comparing whole digests.
func sortByDigest(ss []*Session) {
	if len(ss) < 2 {
		return
	}
	var start [257]int
	for _, s := range ss {
		start[int(s.Digest[0])+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	keyed := make([]digestOrder, len(ss))
	next := start
	for _, s := range ss {
		b := s.Digest[0]
		keyed[next[b]] = digestOrder{binary.BigEndian.Uint64(s.Digest[:]), s}
		next[b]++
	}
	byKey := func(a, b digestOrder) int {
		if c := cmp.Compare(a.w0, b.w0); c != 0 {
			return c
		}
		return slices.Compare(a.sess.Digest[8:], b.sess.Digest[8:])
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for b := w; b < 256; b += workers {
				bucket := keyed[start[b]:start[b+1]]
				slices.SortFunc(bucket, byKey)
				for i, k := range bucket {
					ss[start[b]+i] = k.sess
				}
			}
		})
	}
	wg.Wait()
}
