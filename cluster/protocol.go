package cluster

// The consistency protocol: read leases, read indexes and the revocation
// wait, in one file. DESIGN rule 4 promises that a validation at the
// Default or Consistent level never accepts a credential after a command
// narrowing it was acknowledged, and that reads cost no log write. This
// file is the proof; the helpers it leans on are the batcher and
// appliedWaiter (readindex.go) and the holder polls (leases.go).
//
// Terms. A read index is an index such that every write acknowledged
// before a read began is at or below it. A read lease is a node's licence
// to answer Default hits from local state: a read index it obtained (and
// applied) less than MaxStale ago. A holder is a node the leader has
// granted a lease to. A narrowing command ends, shortens or weakens a
// credential.
//
// Invariants, each with the test that checks it and the planted bug
// (scripts/mutants) that test fails on:
//
//	I1 Narrowing is declared, not listed. Whether a command narrows is the
//	   fsm command table's Validity column; the leader waits (I2) after
//	   every entry fsm.EntryNarrows reports, also any type this binary
//	   does not know: applyLocal after its own command, handleApplyBatch
//	   once for a forwarded batch, at the batch's highest narrowing index
//	   (a holder applies in log order, so one that applied it applied
//	   every earlier one, and the holders are read after every command
//	   of the batch was applied).
//	   fsm.TestCommands_EveryTypeDeclaresValidity,
//	   TestRevocation_EveryNarrowingCommandWaitsForHolders,
//	   TestForward_BatchWaitsForItsLastRevocation.
//	   Mutants: key-revoke-not-narrowing, batch-waits-for-first-revocation.
//	I2 A narrowing command is acknowledged only once every holder whose
//	   lease may still run (on the leader's monotonic clock) has applied
//	   it, or that lease has lapsed.
//	   A wait that ends first (its deadline) fails the command instead:
//	   committed, not acknowledged.
//	   TestRevocation_NoLeaseHolderOutlivesALogout,
//	   TestRevocation_UnansweringHolderCostsItsLeaseOnly,
//	   TestForward_BatchHasOneDeadline.
//	   Mutants: revocation-skips-lease-wait, batch-acknowledges-on-failed-wait.
//	I3 The leader records a grant before it starts the round that proves
//	   the read index the lease rests on, running until arrival +
//	   MaxStale + leaseMargin. TestLease_GrantedBeforeTheRound.
//	   Mutant: lease-granted-after-round.
//	I4 A node counts its lease from before it sent the request that earned
//	   it, on its monotonic clock. TestLease_CountsFromTheSend,
//	   TestLease_WallClockStepDoesNotStretchIt.
//	   Mutants: lease-counted-from-answer, restart-serves-before-catchup.
//	I5 A leader does not know its predecessors' grants, so after an
//	   election it assumes every member may hold one: in each term, before
//	   it waits for any narrowing command, it grants every member of the
//	   configuration a lease of one period (MaxStale + leaseMargin) from
//	   now, and acknowledges no narrowing write until each has confirmed
//	   it or that window ran out. Only a leader of the term records the
//	   term as covered (coverPredecessors).
//	   TestRevocation_NewLeaderWaitsOutOldLeases,
//	   TestRevocation_NewLeaderCoversLeasesAfterHandover,
//	   TestLease_DeposedLeaderDoesNotCoverItsNextTerm.
//	   Mutants: new-leader-forgets-old-leases (a graceful restart hands
//	   leadership over in milliseconds, within the old leases),
//	   deposed-leader-covers-next-term.
//	   Releases before leaseCoverFormat (0.3.0) take office without this
//	   cover, so while any member announces less, no node serves from a
//	   lease (leaseCovered): a rolling upgrade's failover to a 0.3.0
//	   member would otherwise leave an upgraded node answering from the
//	   crashed leader's lease. TestUpgrade_ReleaseLeaderAfterFailoverLosesNoLogout,
//	   TestLease_NoneWhileAMemberLacksTheCover.
//	   Mutant: lease-without-cover.
//	I6 A read index is the leader's commit index at the start of a round
//	   that began after every read it serves (batcher), in a term in which
//	   the leader has committed an entry (readyTerm), and that a quorum of
//	   voters answered — the leader counting itself — each answer to a
//	   message of this round (its id) naming the leader's term. Not
//	   raft's VerifyLeader: that counts answers to heartbeats sent before
//	   the read began. TestReadIndex_NeedsFreshQuorumAnswers,
//	   TestReadIndex_OtherTermAnswerDoesNotCount,
//	   TestReadIndex_CoversWritesAppliedOnFollowersFirst.
//	   Mutants: readindex-without-quorum-round, reads-before-term-barrier.
//	I7 Reads write nothing, and leases renew only while used: an idle
//	   cluster appends no entry, a miss appends none.
//	   TestIdle_ClusterAppendsNoEntries,
//	   TestReadIndex_MissesAndConsistentReadsAppendNothing,
//	   TestLease_RenewedOnlyWhileUsed, api.TestMisses_AppendNoLogEntry.
//	   Mutant: read-index-writes-a-barrier.
//
// Why the promise holds. Let R be a narrowing command committed at index
// i and acknowledged at time a, and let node F accept a credential R
// revoked, at the Default level after a. F answered from local state
// under a lease whose read index it applied, so that index is below i
// (otherwise F's state already shows R). The lease rests on a round that
// started before R committed (I6: the index is the commit index at round
// start). Its grant was recorded before that round (I3), so before R
// committed, so before the leader's wait for R read the table: the wait
// saw F (I2), and either F confirmed it applied i — after which F's state
// shows R — or the leader waited until arrival + MaxStale + margin. F
// counts its lease from its send, which is before the arrival (I4), so on
// F's clock the lease ended before a, give or take leaseMargin of drift
// between the clocks' rates. If the lease came from an earlier leader, the
// leader that acknowledged R counted F as a holder from its first
// narrowing wait of its term (I5), later than any grant of an earlier
// term, since an earlier leader's round cannot succeed once a quorum has
// voted in a later term (I6) — when every member runs a release with the
// cover; while one does not, F serves no hit from a lease at all. Consistent reads wait for a read index from
// a round started after they began: by I6 no other leader can have
// committed anything before that round, so every acknowledged write is
// at or below the index. Nothing here appends to the log except the one
// barrier per term at election (I7).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

// leaseMargin covers clock-rate drift between the leader's and a holder's
// monotonic clocks over one lease.
const leaseMargin = 50 * time.Millisecond

// confirmPath is the quorum round's route on every member (handleConfirm).
// An older member (0.3.0) answers 404, which is no confirmation; when the
// round needs such members for its quorum, the leader proves its term as
// 0.3.0 did, by committing a barrier (confirmQuorum): a rolling upgrade
// whose new leader has older followers keeps serving reads, at one log
// write per round while it lasts. TestReadIndex_OlderMembersWithoutConfirm.
const confirmPath = "/internal/v1/confirm"

// leasePeriod is how long the leader counts a lease it granted.
func (n *Node) leasePeriod() time.Duration { return n.cfg.MaxStale + leaseMargin }

// leaseTable is the leader's record of read leases granted to members.
type leaseTable struct {
	mu      sync.Mutex
	holders map[string]time.Duration // node id → lease deadline on mono()
	watches map[string]*holderWatch  // node id → its confirmations (leases.go)
	term    uint64                   // the term whose predecessors' leases are covered (I5)
	polls   atomic.Int64             // applied-polls sent (tests, benchmarks)
}

func newLeaseTable() *leaseTable {
	return &leaseTable{holders: map[string]time.Duration{}, watches: map[string]*holderWatch{}}
}

// grant notes that node id may hold a lease until until (I3: called
// before the round that proves it).
func (t *leaseTable) grant(id string, until time.Duration) {
	if id == "" {
		return
	}
	t.mu.Lock()
	t.grantLocked(id, until)
	t.mu.Unlock()
}

func (t *leaseTable) grantLocked(id string, until time.Duration) {
	if until > t.holders[id] {
		t.holders[id] = until
	}
}

// takeOffice grants every member a lease until until, once per term (I5):
// leases granted by an earlier leader, which this one never saw, end
// before it. Under one lock with the term, so no concurrent wait of the
// same term can read the table between the two.
func (t *leaseTable) takeOffice(term uint64, members []string, until time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.term == term {
		return
	}
	t.term = term
	for _, id := range members {
		t.grantLocked(id, until)
	}
}

// coverOnly grants every member a lease until until without recording a
// term as covered (coverPredecessors, when this node no longer leads).
func (t *leaseTable) coverOnly(members []string, until time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range members {
		t.grantLocked(id, until)
	}
}

// deadline is holder id's current lease deadline on mono() (0: none).
func (t *leaseTable) deadline(id string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.holders[id]
}

// active returns the holders whose lease may still run at now, forgetting
// the lapsed ones.
func (t *leaseTable) active(now time.Duration) map[string]time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]time.Duration, len(t.holders))
	for id, d := range t.holders {
		if d <= now {
			delete(t.holders, id)
			continue
		}
		out[id] = d
	}
	return out
}

// awaitLeaseHolders returns once every member whose read lease may still
// run has applied idx, or its lease has lapsed: at most one lease period
// (I2). It fails only when ctx ends first; the command is committed then,
// but not yet final everywhere, so it must not be acknowledged as done (a
// retry is safe: commands are idempotent). revocations is how many
// narrowing commands the wait stands for (a forwarded batch waits once
// for all of its own, at its highest index), so that the wait's metrics
// count revocations, not waits.
func (n *Node) awaitLeaseHolders(ctx context.Context, idx uint64, revocations int) error {
	n.coverPredecessors()
	holders := n.leases.active(n.mono())
	delete(holders, n.cfg.NodeID) // the leader applied idx before Apply returned
	if len(holders) == 0 {
		return nil
	}
	start := time.Now()
	errs := make(chan error, len(holders))
	for id, deadline := range holders {
		go func() { errs <- n.awaitHolder(ctx, id, deadline, idx, revocations) }()
	}
	var first error
	for range holders {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	took := time.Since(start).Seconds()
	for range revocations {
		n.metrics.revocationWait.Observe(took)
	}
	return first
}

// coverPredecessors takes office (I5) the first time this node waits in
// its current term. Only a leader of that term takes it: a deposed leader
// that is already a candidate in a later term, finishing the wait of a
// command it committed earlier, must not mark that term covered, or on
// winning it would skip the cover for leases an interim leader granted
// after this moment. It still covers every member for one period, as the
// leader it was must. The term is read before the state: raft leaves the
// Leader state before it changes the term, so Leader seen after reading
// term T means leader of a term ≥ T, and the second read makes it exactly
// T. TestLease_DeposedLeaderDoesNotCoverItsNextTerm (on a node that does
// not lead; the deposed-candidate interleaving itself needs an election
// timeout between a step-down and a wait, which no test forces).
func (n *Node) coverPredecessors() {
	term := n.raft.CurrentTerm()
	if n.leases.termCovered() == term {
		return
	}
	until := n.mono() + n.leasePeriod()
	if n.raft.State() == raft.Leader && n.raft.CurrentTerm() == term {
		n.leases.takeOffice(term, n.memberIDs(), until)
		return
	}
	n.leases.coverOnly(n.memberIDs(), until)
}

func (t *leaseTable) termCovered() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.term
}

// memberIDs is every server of the latest configuration, voters and
// non-voters alike (both serve reads).
func (n *Node) memberIDs() []string {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var ids []string
	for _, s := range f.Configuration().Servers {
		ids = append(ids, string(s.ID))
	}
	return ids
}

// handleReadIndex is the leader's side of a member's read-index request:
// the grant first (I3), then the shared round (I6).
func (n *Node) handleReadIndex(w http.ResponseWriter, r *http.Request) {
	if n.raft.State() != raft.Leader {
		writeInternalError(w, ErrNotLeader)
		return
	}
	// Noted before the round: a narrowing command committed after this
	// point sees the holder, one committed before is covered by the index.
	n.leases.grant(r.URL.Query().Get("from"), n.mono()+n.leasePeriod())
	idx, err := n.leaderRI.get(r.Context())
	if err != nil {
		writeInternalError(w, err)
		return
	}
	writeInternalJSON(w, map[string]uint64{"index": idx})
}

// forwardReadIndexRound asks the leader for a read index; from names this
// node, so the leader can note the lease it grants.
func (n *Node) forwardReadIndexRound(ctx context.Context) (uint64, error) {
	var out struct {
		Index uint64 `json:"index"`
	}
	err := n.callLeader(ctx, "/internal/v1/readindex?from="+url.QueryEscape(n.cfg.NodeID), nil, &out)
	return out.Index, err
}

// leaderReadIndexRound is one read-index round on the leader (I6). The
// batcher starts it only after every read it serves began.
func (n *Node) leaderReadIndexRound(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	term := n.raft.CurrentTerm()
	if n.readyTerm.Load() != term {
		return 0, fmt.Errorf("%w: leader has not committed in its term yet", ErrNotLeader)
	}
	idx := n.fsmIndex(n.raft.CommitIndex())
	if err := n.confirmQuorum(ctx, term); err != nil {
		return 0, err
	}
	if n.raft.CurrentTerm() != term || n.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	return idx, nil
}

// fsmIndex is the highest index at or below the commit index c that a
// state machine sees: Raft never hands barrier and no-op entries (one per
// election) to the FSM, so a reader waiting for one would wait until the
// next command. Every entry between the answer and c changes no state,
// so the answer covers everything c covers. Below the leader's applied
// index nothing is looked up; a log read that fails answers c itself
// (a longer wait, never a weaker index).
func (n *Node) fsmIndex(c uint64) uint64 {
	floor := n.applied.index.Load()
	for i := c; i > floor; i-- {
		var l raft.Log
		if err := n.logs.GetLog(i, &l); err != nil {
			return c
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i
		}
	}
	return min(floor, c)
}

// confirmRequest and confirmAnswer are the quorum round's messages; the
// round id ties an answer to this round's message, not an earlier one.
type confirmRequest struct {
	Term  uint64 `json:"term"`
	Round uint64 `json:"round"`
}

type confirmAnswer struct {
	Term  uint64 `json:"term"`
	Round uint64 `json:"round"`
}

// errNewerTerm: a voter is in a later term, so this leader is deposed.
var errNewerTerm = errors.New("cluster: a voter is in a newer term")

// confirmQuorum sends one fresh message to every other voter and returns
// once a quorum, counting this node, answered in term. Stragglers finish
// in the background rather than be cancelled: a cancelled call closes its
// connection, and the next round would pay a new handshake.
func (n *Node) confirmQuorum(ctx context.Context, term uint64) error {
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	var peers []raft.Server
	voters, got := 0, 0
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		if string(s.ID) == n.cfg.NodeID {
			got++
		} else {
			peers = append(peers, s)
		}
	}
	need := voters/2 + 1
	if got >= need {
		return nil
	}
	round := n.roundSeq.Add(1)
	body, _ := json.Marshal(confirmRequest{Term: term, Round: round})
	timeout := n.cfg.ReadTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	answers := make(chan error, len(peers))
	var wg sync.WaitGroup
	for _, s := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers <- n.askConfirm(cctx, string(s.ID), string(s.Address), body, term, round)
		}()
	}
	go func() { wg.Wait(); cancel() }()
	left, older := len(peers), 0
	for left > 0 {
		select {
		case err := <-answers:
			left--
			switch {
			case err == nil:
				got++
			case errors.Is(err, errNewerTerm):
				return fmt.Errorf("%w: %v", ErrNotLeader, err)
			case errors.Is(err, errNoRoute):
				older++
			}
			if got >= need {
				return nil
			}
			if got+left < need && got+left+older >= need {
				return n.confirmByBarrier(term, timeout)
			}
			if got+left < need {
				return fmt.Errorf("%w: no quorum confirmed term %d: %v", ErrNotLeader, term, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("%w: quorum round", ErrTimeout)
		case <-n.stop:
			return ErrShutdown
		}
	}
	return fmt.Errorf("%w: no quorum confirmed term %d", ErrNotLeader, term)
}

// confirmByBarrier proves the term the way releases before the round did:
// a barrier entry committed now was accepted by a quorum in this term,
// after the round began, so no later leader had committed anything yet.
// Used only while members that predate confirmPath are needed for the
// quorum.
func (n *Node) confirmByBarrier(term uint64, timeout time.Duration) error {
	if err := n.barrier(timeout); err != nil {
		return fmt.Errorf("%w: barrier for older members: %v", ErrNotLeader, err)
	}
	if n.raft.CurrentTerm() != term || n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	return nil
}

// askConfirm is one voter's part of a round: nil only for an answer to
// this round's message naming term.
func (n *Node) askConfirm(ctx context.Context, id, addr string, body []byte, term, round uint64) error {
	var out confirmAnswer
	if err := n.call(ctx, id, addr, confirmPath, body, &out); err != nil {
		return err
	}
	switch {
	case out.Term > term:
		return fmt.Errorf("%w: %s is in term %d", errNewerTerm, id, out.Term)
	case out.Term != term || out.Round != round:
		return fmt.Errorf("%w: %s answered term %d round %d, not %d/%d", ErrForward, id, out.Term, out.Round, term, round)
	}
	return nil
}

// handleConfirm is a voter's answer to a round: its current term, and the
// round it answers. A voter in a later term has voted for another leader
// or will: the round then fails.
func (n *Node) handleConfirm(w http.ResponseWriter, r *http.Request) {
	var req confirmRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeInternalError(w, fmt.Errorf("%w: %v", ErrConfig, err))
		return
	}
	writeInternalJSON(w, confirmAnswer{Term: n.raft.CurrentTerm(), Round: req.Round})
}

// refreshLease obtains a read index, waits until it is applied, and then
// records the lease from the time before the request was sent (I4).
func (n *Node) refreshLease(ctx context.Context) error {
	start := n.mono() // monotonic: a stepped wall clock cannot stretch the lease
	idx, err := n.ReadIndex(ctx)
	if err != nil {
		return err
	}
	if err := n.WaitApplied(ctx, idx); err != nil {
		return err
	}
	raise(&n.leaseAt, int64(start))
	raise(&n.leaseIndex, idx)
	return nil
}

// LeaseValid reports whether the node holds a read lease: a read index
// obtained less than MaxStale ago and applied, in a configuration whose
// every member covers its predecessors' leases (leaseCovered).
func (n *Node) LeaseValid() bool {
	at := n.leaseAt.Load()
	return at != 0 && int64(n.mono())-at < int64(n.cfg.MaxStale) && n.leaseCovered()
}

// leaseCoverFormat is the first format whose binaries keep I5: releases
// that announce less (0.3.0 announces fsm.FormatOperator) take office
// without covering the leases of the leader before them.
const leaseCoverFormat = fsm.FormatV3

// leaseCovered reports whether every member of the configuration
// announced leaseCoverFormat or later. A lease is only as good as the
// next leader's cover (the proof's last step): a member of an older
// release that wins an election acknowledges a logout at once, while this
// node still answers from a lease the crashed leader granted and has not
// yet applied the logout (the rolling upgrade's lost logout,
// TestUpgrade_ReleaseLeaderAfterFailoverLosesNoLogout). Until every
// member runs a release with the cover, no node serves from a lease: a
// Default hit takes a read index like a miss. Non-voters count too, as a
// caught-up one is promoted without notice; a member with no record
// announced nothing (fsm.FormatBase). docs/COMPATIBILITY.md.
//
// The verdict is kept until the log, the applied state or the term moves
// (or coverRecheck passes): a hit then costs three loads, not a copy of
// the configuration. The key is read before the verdict is worked out,
// so a change during the work shows as a new key at the next call.
func (n *Node) leaseCovered() bool {
	key := coverKey{last: n.raft.LastIndex(), applied: n.applied.index.Load(), term: n.raft.CurrentTerm()}
	now := n.mono()
	if c := n.cover.Load(); c != nil && c.key == key && now-c.at < coverRecheck {
		return c.ok
	}
	ok := n.everyMemberCovers()
	n.cover.Store(&coverVerdict{key: key, at: now, ok: ok})
	return ok
}

// coverRecheck bounds how long a verdict of leaseCovered stands with
// nothing in its key moving (a safety net: every change it depends on
// moves the key).
const coverRecheck = time.Second

// coverKey is what leaseCovered's verdict depends on: the configuration
// (in the log, latest entry counts), the members' records (applied state)
// and the term (a new leader may replace entries at the same index).
type coverKey struct{ last, applied, term uint64 }

type coverVerdict struct {
	key coverKey
	at  time.Duration
	ok  bool
}

// everyMemberCovers is leaseCovered worked out afresh.
func (n *Node) everyMemberCovers() bool {
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return false
	}
	st := n.fsm.State()
	for _, s := range cf.Configuration().Servers {
		if meta, ok := st.Node(string(s.ID)); !ok || meta.Format < leaseCoverFormat {
			return false
		}
	}
	return true
}

// useLease notes that a Default read relied on (or wanted) the lease, so
// the lease loop renews it (I7). A load first: most calls find it set
// and write no shared cache line.
func (n *Node) useLease() {
	if !n.leaseUsed.Load() {
		n.leaseUsed.Store(true)
	}
}

// leaseLoop renews the read lease every MaxStale/3 while Default reads
// use it, so that hits do not wait for a round trip; an unused lease
// lapses, and the next hit pays one round (I7). A node that has not
// caught up since it started asks once, so it becomes Ready.
func (n *Node) leaseLoop() {
	n.every(n.cfg.MaxStale/3, func() {
		if !n.leaseUsed.Swap(false) && n.leaseIndex.Load() != 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.MaxStale)
		n.refreshLease(ctx)
		cancel()
	})
}

// inTouch reports whether this node applied a read index since it
// started and, as a follower, heard from the leader within MaxStale:
// readiness without holding a lease, which lapses when unused.
func (n *Node) inTouch() bool {
	if n.leaseIndex.Load() == 0 {
		return false
	}
	return n.raft.State() == raft.Leader || time.Since(n.raft.LastContact()) < n.cfg.MaxStale
}

// mono is the node's monotonic clock: time since the node started, read
// from Go's monotonic reading, so a stepped wall clock never stretches a
// lease.
func (n *Node) mono() time.Duration { return time.Since(n.born) }
