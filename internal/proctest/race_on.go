//go:build race

package proctest

// Race is whether this program runs with the race detector; the
// end-to-end tests build the binary the same way.
const Race = true
