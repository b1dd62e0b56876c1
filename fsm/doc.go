// Package fsm is sessiond's replicated state machine: users, dbs, sessions,
// settings, JWT signing keys and node metadata, changed only by log entries.
//
// It owns the command types and their encoding, Apply, Snapshot/Restore and
// the read-only queries that token validation uses. It must stay
// deterministic: Apply never reads the clock, randomness or the network and
// never hashes a password. Every value that could differ between nodes (IDs,
// timestamps, digests) is chosen by the node that received the request and
// carried inside the command, so every replica that applies the same log
// reaches byte-identical state.
//
// A log entry is one type byte followed by its payload. Type numbers are
// explicit and append-only; a type with the IgnorableFlag bit set may be
// skipped by an older binary that does not know it, any other unknown type
// panics with the log index because continuing would silently diverge.
// The commands table (commands.go) is the one list of types: each row gives
// a type's name (CmdType.String, the metrics label), its decoder and its
// applyX.
//
// A snapshot is versioned separately from the log (see the format comment
// in snapshot.go). This binary writes and reads version 1; within a version
// records only grow at the end, so a snapshot from an older binary restores
// with the new fields at zero, and one from a newer binary restores without
// the fields it does not know. testdata/snapshot-v1.golden holds that
// promise to a file written by an earlier binary.
//
// Reads never wait behind a snapshot. Sessions live in sharded maps of
// immutable values, so a session read waits at most for one shard write.
// Reads of users, keys and settings wait behind a command that changes
// them (it holds the state lock for its run); the session-only commands,
// refresh and purge batches of up to 50k sessions, never take that lock,
// so validation does not stall behind them (see State's lock order and
// BenchmarkValidationDuringRefreshBatch).
//
// fsm imports nothing else of this repository.
package fsm
