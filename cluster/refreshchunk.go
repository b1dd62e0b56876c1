package cluster

import (
	"math"

	"github.com/sessiond/sessiond/fsm"
)

// refreshChunkBytes bounds one RefreshSessions entry. A follower forwards
// the entry in a batch whose body must fit the leader's internal limit
// (maxInternalBody); a 50k refresh flush is some 4 MiB, so it goes as
// several entries of at most maxBatchBytes, each of which fits a batch on
// its own with room for the framing.
const refreshChunkBytes = maxBatchBytes

// refreshChunks splits refs into commands whose encodings are at most
// limit bytes. Every Refresh encodes to at most the same number of bytes
// (a fixed-length digest and an int64), so the bound is exact arithmetic
// and nothing is encoded twice.
func refreshChunks(refs []fsm.Refresh, limit int) []*fsm.RefreshSessions {
	empty := len(fsm.MustEncode(&fsm.RefreshSessions{Refreshes: []fsm.Refresh{}}))
	one := len(fsm.MustEncode(&fsm.RefreshSessions{Refreshes: []fsm.Refresh{{At: math.MinInt64}}}))
	per := one - empty + 1 // the item and the comma before the next one
	k := max(1, (limit-empty)/per)
	out := make([]*fsm.RefreshSessions, 0, (len(refs)+k-1)/k)
	for len(refs) > 0 {
		n := min(k, len(refs))
		out = append(out, &fsm.RefreshSessions{Refreshes: refs[:n:n]})
		refs = refs[n:]
	}
	return out
}
