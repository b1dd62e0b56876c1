package fsm

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// FSM implements raft.FSM over a State. Apply and Restore are called by the
// Raft library from one goroutine; reads go through State() from any
// goroutine at any time.
type FSM struct {
	state   atomic.Pointer[State]
	applied atomic.Uint64

	// OnApply, when set before the FSM is used, observes each command's
	// apply latency (for metrics). It must be fast and must not block.
	OnApply func(t CmdType, d time.Duration)

	evMu sync.Mutex
	evCh chan struct{} // closed by notifyEvents; nil until someone waits
	// OnUnreadable, when set before the FSM is used, is called with an
	// *UnreadableError instead of the panic when an entry's command type
	// is unknown (a newer binary wrote it). It should not return: the
	// binary stops with a message naming the versions (cmd exits 78, which
	// the systemd unit does not restart), never a panic loop. If it
	// returns, Apply panics as before.
	OnUnreadable func(err error)
}

var _ raft.FSM = (*FSM)(nil)

// New returns an FSM with empty state and default settings.
func New() *FSM {
	f := &FSM{}
	f.state.Store(newState())
	return f
}

// State returns the current state. After a Restore the pointer changes, so
// callers fetch it per request rather than caching it.
func (f *FSM) State() *State { return f.state.Load() }

// AppliedIndex is the index of the last log entry applied (or of the last
// restored snapshot).
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// Apply applies one committed log entry. Undecodable entries panic with the
// index: skipping one would make this replica diverge silently.
func (f *FSM) Apply(l *raft.Log) interface{} {
	if l.Type != raft.LogCommand {
		f.State().setIndex(l.Index)
		f.applied.Store(l.Index)
		return nil
	}
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	return f.applyEntry(l.Index, l.Data, at)
}

// ApplyEntry applies an encoded command at index without Raft, for tests
// and tools. It panics on an undecodable entry, as Apply does.
func (f *FSM) ApplyEntry(index uint64, entry []byte) Result { return f.applyEntry(index, entry, 0) }

// applyEntry is ApplyEntry for an entry the leader stamped at `at` (raft's
// AppendedAt, replicated with the entry): the time of its events.
func (f *FSM) applyEntry(index uint64, entry []byte, at int64) Result {
	cmd, err := Decode(entry)
	if errors.Is(err, ErrUnknownType) {
		// The format gate (format.go) keeps this from happening in a
		// cluster whose members announced their formats; if it does, say
		// which binary is behind.
		uerr := &UnreadableError{Index: index, Err: err}
		if f.OnUnreadable != nil {
			f.OnUnreadable(uerr)
		}
		panic("fsm: " + uerr.Error())
	}
	if err != nil {
		panic(fmt.Sprintf("fsm: log entry %d: %v", index, err))
	}
	if cmd == nil { // unknown but ignorable
		f.State().setIndex(index)
		f.applied.Store(index)
		return Result{Index: index}
	}
	var start time.Time
	if f.OnApply != nil {
		start = time.Now()
	}
	st := f.State()
	before := st.lastEvent()
	res := st.applyAt(cmd, index, at)
	f.applied.Store(index)
	if st.lastEvent() != before {
		f.notifyEvents()
	}
	if f.OnApply != nil {
		f.OnApply(cmd.Type(), time.Since(start))
	}
	res.Index = index
	return res
}

// EventsChanged returns a channel closed when events are next appended
// (or the state is replaced by a restore): a reader of the event log
// (the stream, the webhook dispatcher) takes it, reads, and waits on it.
func (f *FSM) EventsChanged() <-chan struct{} {
	f.evMu.Lock()
	defer f.evMu.Unlock()
	if f.evCh == nil {
		f.evCh = make(chan struct{})
	}
	return f.evCh
}

func (f *FSM) notifyEvents() {
	f.evMu.Lock()
	if f.evCh != nil {
		close(f.evCh)
		f.evCh = nil
	}
	f.evMu.Unlock()
}
