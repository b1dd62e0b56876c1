// Package faults is sessiond's Jepsen-style fault suite: it builds the real
// binary, runs clusters of 3 or 5 processes, drives a concurrent workload
// of every dialect's login (native, knox, Odoo, JWT), validation (native
// session, forward auth, introspection) and revocation (logout, by ID,
// logoutall with and without keep-current, password change, disable,
// delete) over every node while a nemesis
// injects faults, records every operation with call and return times from
// one monotonic clock, and checks the history against the promises P1–P8
// of docs/RELIABILITY.md.
//
// Two network modes (the suite prints which one ran):
//   - netns (root with iptables): each node lives in its own network
//     namespace with its own address on a bridge the suite creates in
//     10.199.<run>.0/24; partitions are iptables DROP rules inside the
//     namespaces; added latency goes through a userspace proxy whose
//     listening socket lives in the target node's namespace.
//   - loopback (otherwise): nodes on 127.77.<run>.x; every node's Raft port
//     is advertised through an in-process proxy that tells the sending node
//     by the process owning the connection (/proc), so partitions
//     (including one-way) and latency are per directed link. Internal calls
//     travel on the Raft port too, so they are cut with it; client HTTP is
//     not.
//
// Recording rules follow etcd's robustness suite: failed or timed-out
// writes stay in the history with an open end, logins with an unknown
// outcome are dropped, failed reads are dropped, and porcupine's Unknown is
// inconclusive, never a pass.
//
// The package is a test harness: nothing in the service imports it.
package faults
