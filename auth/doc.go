// Package auth owns the secret-handling, non-deterministic half of
// sessiond's authentication: password hashing and verification (argon2id,
// with bcrypt accepted for imported users), the bounded pool those hashes
// run on, token and ID minting, token digests, JWT signing keys, JWT
// minting and verification, and login throttling policy.
//
// Everything here runs on the node that received a request, before a
// command is proposed to Raft. The replicated state machine (package fsm)
// never hashes, never reads the clock and never draws randomness, so every
// value this package picks — salts, tokens, IDs, digests, key material,
// lock deadlines — is chosen here and carried into the log as a plain
// value. Only digests go into the log; a token or password handed to this
// package is never stored or logged by it.
//
// What this package must not do:
//
//   - import any other package of this repository (it is a leaf, like fsm);
//   - hold replicated state: the keyring, lock state and failure counters
//     live in fsm; here are only the pure policies and the primitives;
//   - log secrets (it does not log at all);
//   - truncate a password, or accept a token of the wrong shape.
//
// Concurrency: the free functions are safe for concurrent use. Pool and
// AddrLimiter are safe for concurrent use by many goroutines. Value types
// (HashParams, PasswordPolicy, LockoutPolicy, Key, Claims) are plain data.
//
// Errors are the sentinels in errors.go, wrapped with %w; compare them
// with errors.Is.
package auth
