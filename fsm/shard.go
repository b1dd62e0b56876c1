package fsm

import (
	"encoding/binary"
	"sync"
)

// shard holds a slice of the session index. Values are immutable; Apply
// swaps pointers under the write lock, readers copy one under the read lock.
//
// The index is keyed by a 64-bit digestKey, not the 32-byte digest: a map
// slot is then 16 bytes instead of 40, which is most of what a session
// costs beyond its own value at 10M sessions (issue 16). Two digests of
// one shard may share a key: the second goes to clash, keyed by the whole
// digest, so a lookup always compares the full digest. Invariant: a digest
// is in clash only while m holds another digest under its key, so delete
// promotes a clashing digest into m when it frees that key.
type shard struct {
	mu    sync.RWMutex
	m     map[uint64]*Session
	clash map[Digest]*Session // nil until two digests share a key
}

// digestKey folds the digest's four words, so digests that differ in any
// one word never share a key. Digests are SHA-256 outputs; the map seeds
// its own hash of the key, so chosen digests cannot aim at one bucket.
func digestKey(d *Digest) uint64 {
	return binary.BigEndian.Uint64(d[0:]) ^ binary.BigEndian.Uint64(d[8:]) ^
		binary.BigEndian.Uint64(d[16:]) ^ binary.BigEndian.Uint64(d[24:])
}

func newShardMap(hint int) map[uint64]*Session { return make(map[uint64]*Session, hint) }

// get returns the session with digest d. Callers hold mu.
func (sh *shard) get(d *Digest) (*Session, bool) {
	if s := sh.m[digestKey(d)]; s != nil && s.Digest == *d {
		return s, true
	}
	if sh.clash == nil {
		return nil, false
	}
	s, ok := sh.clash[*d]
	return s, ok
}

// put stores sess, replacing and returning a session of the same digest.
// Callers hold mu for writing.
func (sh *shard) put(sess *Session) (old *Session, existed bool) {
	k := digestKey(&sess.Digest)
	cur := sh.m[k]
	if cur == nil || cur.Digest == sess.Digest {
		sh.m[k] = sess
		return cur, cur != nil
	}
	if sh.clash == nil {
		sh.clash = make(map[Digest]*Session)
	}
	old, existed = sh.clash[sess.Digest]
	sh.clash[sess.Digest] = sess
	return old, existed
}

// del removes the session with digest d, if any. Callers hold mu for
// writing.
func (sh *shard) del(d *Digest) {
	k := digestKey(d)
	if cur := sh.m[k]; cur != nil && cur.Digest == *d {
		delete(sh.m, k)
		for cd, s := range sh.clash { // clash is tiny: a scan is cheap
			if digestKey(&cd) == k {
				sh.m[k] = s
				delete(sh.clash, cd)
				break
			}
		}
	} else if sh.clash != nil {
		delete(sh.clash, *d)
	}
	if sh.clash != nil && len(sh.clash) == 0 {
		sh.clash = nil
	}
}

// each calls fn for every session of the shard until fn returns false, and
// reports whether it went through all. Callers hold mu.
func (sh *shard) each(fn func(*Session) bool) bool {
	for _, s := range sh.m {
		if !fn(s) {
			return false
		}
	}
	for _, s := range sh.clash {
		if !fn(s) {
			return false
		}
	}
	return true
}

func (sh *shard) len() int { return len(sh.m) + len(sh.clash) }
