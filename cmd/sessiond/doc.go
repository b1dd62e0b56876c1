// Command sessiond is the session and token authentication service.
//
// With no arguments it runs a single durable node: data in ./data, the API
// on 127.0.0.1:8080, Raft on 127.0.0.1:8300, bootstrapped on the first
// start and recovered on every later one. Subcommands join a cluster
// (join, or serve --join), show its status and manage users through a
// running node; `sessiond help` lists them.
//
// This package owns the command line: flag names, their SESSIOND_*
// environment fallbacks, where secrets come from (the environment or
// files, never flags), the mapping onto each package's Config, signals
// (SIGTERM/SIGINT shut down, SIGHUP reloads certificates) and process-wide
// metrics. main is thin: Main.Run runs a command, Main.Close stops what it
// started.
//
// It must not hold business logic — validation, replication, hashing and
// HTTP handling live in auth, cluster and api — and it must never print or
// log a secret: they are held in a type that prints as "[redacted]".
package main
