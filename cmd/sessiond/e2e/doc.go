// Package e2e holds end-to-end tests: TestMain builds the real sessiond
// binary once, and the tests run it as processes — one node restarted
// with SIGTERM, three nodes with kill -9 of the leader, TLS between nodes,
// the CLI, and scripts/cluster.sh and scripts/smoke.sh — talking to them
// over HTTP with api/client.
//
// Processes start through internal/proctest, shared with the fault suite
// and the benchmark: every node gets reserved loopback ports below the
// kernel's ephemeral range and a temporary working directory; every wait
// polls with a deadline; every process is killed at cleanup, and its log
// is shown when a test fails. The package has no non-test code and must not grow any: it tests
// the product from outside, as an operator would use it.
package e2e
