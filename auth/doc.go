// Package auth owns the secret-handling, non-deterministic half of
// sessiond's authentication: password hashing and verification (argon2id,
// with bcrypt accepted for imported users), the bounded pool those hashes
// run on, token and ID minting, token digests, JWT signing keys, JWT
// minting and verification, and login throttling policy — and, in
// Service, every use case that changes or reads the replicated state on a
// request's behalf: login, validation (one principal from one state, at a
// consistency level), revocation, registration, admin user changes,
// settings, the signing keyring and first-start seeding. It is the one
// door between HTTP (package api) and the cluster: every fsm command
// except the cluster's own housekeeping (node metadata, purge, refresh)
// is built here.
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
//   - import any package of this repository but fsm (it must not know
//     HTTP, nor the cluster beyond the one Node interface it is given in
//     Deps);
//   - hold replicated state: the keyring, lock state and failure counters
//     live in fsm; here are the rules, the primitives and the commands;
//   - log secrets (only SeedCluster logs, and never a secret);
//   - truncate a password, or accept a token of the wrong shape.
//
// Concurrency: the free functions are safe for concurrent use. Pool and
// AddrLimiter are safe for concurrent use by many goroutines. Value types
// (HashParams, PasswordPolicy, Key, Claims) are plain data.
//
// Errors are the sentinels in errors.go, wrapped with %w; compare them
// with errors.Is.
package auth
