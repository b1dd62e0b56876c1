package fsm

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
)

// A restored state of many users equals the applied one: every query,
// the state hash, and each user's raw index list in the order the one-by-one
// restore built it (snapshot order, i.e. by digest).
func TestRestore_LargeEqualsApplied(t *testing.T) {
	// 10,000 sessions of 1,001 users: restore has no size threshold, and
	// 50,000 cost 75 s under -race for no more paths.
	f, _ := benchState(t, 10_000)
	snap := snapshotBytes(t, f)
	got := restoreBytes(t, snap)
	sameState(t, f.State(), got.State())
	wh, _ := f.StateHash()
	gh, _ := got.StateHash()
	if wh != gh {
		t.Fatalf("StateHash %s, applied %s", gh, wh)
	}
	// The reference: every session put one by one in snapshot order.
	img := got.State().capture()
	img.sort()
	ref := newState()
	ref.installSessionsOneByOne(img.sessions)
	if !reflect.DeepEqual(ref.byUser, got.State().byUser) {
		t.Fatal("per-user lists differ from the one-by-one restore's")
	}
	for uid, l := range got.State().byUser {
		if cap(l) != len(l) {
			t.Fatalf("user %d: list cap %d for %d sessions", uid, cap(l), len(l))
		}
	}
}

// A snapshot that repeats a digest restores as the one-by-one restore
// always did: the later record replaces the earlier in the digest index,
// and (same user) in the user's list too.
func TestRestore_DuplicateDigest(t *testing.T) {
	meta := rec(recMeta, []byte(`{"settings":{},"next_user":3,"dbs":["d"]}`))
	user1 := rec(recUser, []byte(`{"id":1,"db":"d","login":"x","password_hash":"h","version":1}`))
	sess := func(id string, d Digest, uid uint64) []byte {
		return rec(recSession, appendSession(nil, &Session{ID: id, Digest: d, UserID: uid, DB: "d", Created: 1}))
	}
	f := New()
	snap := craft(1, meta, user1, sess("a", dg("a"), 1), sess("b", dg("b"), 1), sess("a2", dg("a"), 1))
	if err := f.Restore(&trackingCloser{Reader: bytes.NewReader(snap)}); err != nil {
		t.Fatal(err)
	}
	st := f.State()
	if s, ok := st.Session(dg("a")); !ok || s.ID != "a2" {
		t.Fatalf("Session(a) = %+v, want the later record", s)
	}
	wantCounts(t, st, 1, 2)
	if got := sessionIDs(st.byUser[1]); got != "a2,b" {
		t.Fatalf("user list [%s], want [a2,b]", got)
	}
}

// Two digests of one shard with one digestKey are both found, listed and
// deleted, in either order.
func TestShard_KeyClash(t *testing.T) {
	d1 := dg("one")
	d2 := d1
	binary.BigEndian.PutUint64(d2[8:], binary.BigEndian.Uint64(d1[8:])^0xABCD)
	binary.BigEndian.PutUint64(d2[16:], binary.BigEndian.Uint64(d1[16:])^0xABCD)
	if digestKey(&d1) != digestKey(&d2) || d1 == d2 {
		t.Fatal("test digests do not clash")
	}
	for _, first := range []Digest{d1, d2} {
		sh := &shard{m: newShardMap(0)}
		s1, s2 := &Session{ID: "1", Digest: d1}, &Session{ID: "2", Digest: d2}
		sh.put(s1)
		sh.put(s2)
		if old, existed := sh.put(&Session{ID: "2b", Digest: d2}); !existed || old != s2 {
			t.Fatalf("replace in clash: %v %v", old, existed)
		}
		if g, ok := sh.get(&d1); !ok || g != s1 {
			t.Fatal("d1 lost")
		}
		if g, ok := sh.get(&d2); !ok || g.ID != "2b" {
			t.Fatal("d2 lost")
		}
		if sh.len() != 2 {
			t.Fatalf("len %d", sh.len())
		}
		sh.del(&first)
		other := d1
		if first == d1 {
			other = d2
		}
		if _, ok := sh.get(&first); ok {
			t.Fatal("deleted digest still found")
		}
		if _, ok := sh.get(&other); !ok || sh.len() != 1 || sh.clash != nil {
			t.Fatalf("after delete: found %v, len %d, clash %v", ok, sh.len(), sh.clash)
		}
	}
}

// sortByDigest orders as bytes.Compare does, across buckets and within
// ties of the first word.
func TestSortByDigest(t *testing.T) {
	var ss []*Session
	for i := range 3000 {
		d := dg(string(rune(i)))
		if i%3 == 0 {
			d[31] ^= 1 // near-duplicates: equal first word
			ss = append(ss, &Session{Digest: d})
			d[31] ^= 1
		}
		ss = append(ss, &Session{Digest: d})
	}
	sortByDigest(ss)
	for i := 1; i < len(ss); i++ {
		if bytes.Compare(ss[i-1].Digest[:], ss[i].Digest[:]) >= 0 {
			t.Fatalf("out of order at %d", i)
		}
	}
}
