// Package cluster runs sessiond's Raft node: hashicorp/raft with its log and
// stable store in raft-boltdb/v2 (fsync on), file snapshots and a TCP
// transport.
//
// It owns bootstrap (only when no state exists), joining and removing
// members (a new member enters as a non-voter and is promoted once caught
// up; a known member is never re-pointed: membership.go, promote.go),
// forwarding writes from followers to the leader over an internal HTTP API
// carried inside the Raft port's authenticated channel (package transport;
// peerhttp.go), read barriers for the three consistency levels, the format
// gate (format.go), and the leader-only loops (expiry purge, batched idle
// refreshes, promotion).
//
// Consistency levels (docs/ARCHITECTURE.md, rule 4):
//   - Consistent: a read index from the leader, then the node waits until
//     it has applied it.
//   - Default: a local hit is answered while the node holds a read lease; a
//     miss is confirmed with a fresh read index before it is refused.
//   - Stale: local memory only.
//
// How read indexes are proven, how leases are granted, counted and renewed,
// and why a narrowing command is final on every lease holder when it is
// acknowledged, is protocol.go: its doc comment states the invariants and
// names the test of each. A node that just started or lost its leader
// holds no lease, so it serves no Default or Consistent read until it has
// caught up with a leader.
//
// cluster must not know HTTP routes of the public API, dialects or
// passwords: it moves encoded fsm commands and indexes.
package cluster
