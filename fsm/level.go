package fsm

// Level is how fresh a read must be. It lives next to the state it reads
// so that both the cluster (which enforces it) and auth (which passes the
// request's level through its one validation path) can name it without
// depending on each other.
type Level int

// Consistency levels: Default answers hits from local state under a read
// lease and checks misses with the leader; Consistent always waits for a
// read index; Stale answers from local state, whatever its age.
const (
	Default Level = iota
	Consistent
	Stale
)

// String names the level as flags and query parameters spell it.
func (l Level) String() string {
	switch l {
	case Consistent:
		return "consistent"
	case Stale:
		return "stale"
	}
	return "default"
}
