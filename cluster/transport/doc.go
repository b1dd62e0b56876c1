// Package transport owns the channel between sessiond nodes: the
// authenticated stream layer Raft runs over (a cluster-key proof bound to a
// TLS 1.3 session, or mutual TLS with the cluster CA), the policy that keeps
// anonymous connections from starving members of handshake slots, the TLS
// configuration every node and tool builds, and the MAC that seals backups.
//
// A reviewer of the node-to-node channel reads this package only. It knows
// nothing of the node, of Raft's configuration or of fsm commands: the node
// tells it who the members are through a callback, and gets authenticated
// connections back.
//
// It must not log or return secrets: keys are compared with hmac.Equal and
// never leave the process.
package transport
