package cluster

import (
	"errors"
	"io"
	"sync"
	"time"

	gmetrics "github.com/hashicorp/go-metrics/compat"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond/fsm"
)

// nodeMetrics are the node's own collectors. They are created with the
// node and handed to a registry by Collectors, never registered globally.
type nodeMetrics struct {
	applyDur      *prometheus.HistogramVec
	forwarded     *prometheus.CounterVec
	riBatch       *prometheus.HistogramVec
	snapPersist   prometheus.Histogram
	snapRestore   prometheus.Histogram
	snapSizeBytes prometheus.Gauge
	// revocationWait times how long a revoking command's acknowledgement
	// waited for the read-lease holders; leaseLapses counts holders that
	// could not confirm and whose lease was waited out.
	revocationWait prometheus.Histogram
	leaseLapses    prometheus.Counter
}

func newNodeMetrics() *nodeMetrics {
	m := &nodeMetrics{
		applyDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sessiond_fsm_apply_duration_seconds", Help: "Time to apply one command to the state machine, by command.",
			Buckets: []float64{1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, .01, .05},
		}, []string{"command"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_forwarded_writes_total", Help: "Writes forwarded from this follower to the leader, by result.",
		}, []string{"result"}),
		riBatch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sessiond_readindex_batch_size", Help: "Readers served by one read-index round, by role (leader round or forwarded to the leader).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}, []string{"role"}),
		snapPersist: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sessiond_snapshot_persist_duration_seconds", Help: "Time to write a Raft snapshot of the state.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		snapRestore: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sessiond_snapshot_restore_duration_seconds", Help: "Time to restore the state from a snapshot.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		revocationWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sessiond_revocation_wait_seconds", Help: "Time a revoking command's acknowledgement waited for the followers holding read leases.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		leaseLapses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessiond_revocation_lease_lapses_total", Help: "Read-lease holders a revocation waited out because they did not confirm it (partitioned, paused or slow).",
		}),
		snapSizeBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessiond_snapshot_size_bytes", Help: "Size of the last snapshot this node wrote.",
		}),
	}
	// Series exist at zero from the start, so alerts and dashboards see them
	// before the first event.
	for _, r := range []string{"ok", "no_leader", "timeout", "error"} {
		m.forwarded.WithLabelValues(r)
	}
	for _, role := range []string{"leader", "forwarded"} {
		m.riBatch.WithLabelValues(role)
	}
	for t := 1; t < 256; t++ {
		if name := fsm.CmdType(t).String(); name != "other" {
			m.applyDur.WithLabelValues(name)
		}
	}
	return m
}

// observeApply labels by fsm.CmdType.String, the FSM's own name for each
// command, so a new command gets its series without a change here.
func (m *nodeMetrics) observeApply(t fsm.CmdType, d time.Duration) {
	m.applyDur.WithLabelValues(t.String()).Observe(d.Seconds())
}

func (m *nodeMetrics) forwardResult(err error) {
	res := "ok"
	switch {
	case err == nil:
	case errors.Is(err, ErrNoLeader), errors.Is(err, ErrNotLeader):
		res = "no_leader"
	case errors.Is(err, ErrTimeout):
		res = "timeout"
	default:
		res = "error"
	}
	m.forwarded.WithLabelValues(res).Inc()
}

// Collectors returns the node's metrics for a registry: its own counters
// and histograms plus gauges read from Raft at scrape time.
func (n *Node) Collectors() []prometheus.Collector {
	m := n.metrics
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	return append(n.auth.collectors(),
		m.applyDur, m.forwarded, m.riBatch, m.snapPersist, m.snapRestore, m.snapSizeBytes,
		m.revocationWait, m.leaseLapses,
		gauge("sessiond_cluster_leader", "1 when this node is the Raft leader.", func() float64 {
			if n.raft.State() == raft.Leader {
				return 1
			}
			return 0
		}),
		gauge("sessiond_cluster_has_leader", "1 when this node knows a leader.", func() float64 {
			if _, id := n.raft.LeaderWithID(); id != "" {
				return 1
			}
			return 0
		}),
		gauge("sessiond_cluster_term", "Current Raft term.", func() float64 { return float64(n.raft.CurrentTerm()) }),
		gauge("sessiond_cluster_commit_index", "Raft commit index.", func() float64 { return float64(n.raft.CommitIndex()) }),
		gauge("sessiond_cluster_raft_applied_index", "Last index Raft handed to the state machine.", func() float64 { return float64(n.raft.AppliedIndex()) }),
		gauge("sessiond_cluster_last_index", "Last index in the Raft log.", func() float64 { return float64(n.raft.LastIndex()) }),
		gauge("sessiond_cluster_last_contact_seconds", "Seconds since the leader was last heard from (0 on the leader).", func() float64 {
			if n.raft.State() == raft.Leader {
				return 0
			}
			lc := n.raft.LastContact()
			if lc.IsZero() {
				return -1
			}
			return time.Since(lc).Seconds()
		}),
		gauge("sessiond_cluster_read_lease_valid", "1 while the node holds a read lease; renewed only while default reads use it, so 0 on an idle node (not a fault: see sessiond_ready).", func() float64 {
			if n.LeaseValid() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sessiond_readindex_rounds_total", Help: "Read-index rounds run as leader.",
			ConstLabels: prometheus.Labels{"role": "leader"}}, func() float64 { return float64(n.leaderRI.Rounds.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sessiond_readindex_rounds_total", Help: "Read-index rounds run as leader.",
			ConstLabels: prometheus.Labels{"role": "forwarded"}}, func() float64 { return float64(n.forwardRI.Rounds.Load()) }),
	)
}

var bridgeOnce sync.Once

// BridgeRaftMetrics sends the Raft library's own metrics (go-metrics) into
// reg, named sessiond_raft_* under Prometheus' conventions (raftBridge).
// go-metrics is process-global, so only the first registry of a process
// gets them: call it once per process with the node's registry.
func BridgeRaftMetrics(reg prometheus.Registerer) error {
	var err error
	bridgeOnce.Do(func() {
		var b *raftBridge
		var sink gmetrics.MetricSink
		if b, sink, err = newRaftBridge(); err != nil {
			return
		}
		if err = reg.Register(b); err != nil {
			return
		}
		_, err = gmetrics.NewGlobal(raftMetricsConfig(), sink)
	})
	return err
}

// measuredSnapshot times Persist and counts the bytes written.
type measuredSnapshot struct {
	raft.FSMSnapshot
	m *nodeMetrics
}

func (s *measuredSnapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	cs := &countingSink{SnapshotSink: sink}
	err := s.FSMSnapshot.Persist(cs)
	if err == nil {
		s.m.snapPersist.Observe(time.Since(start).Seconds())
		s.m.snapSizeBytes.Set(float64(cs.n))
	}
	return err
}

type countingSink struct {
	raft.SnapshotSink
	n int64
}

func (c *countingSink) Write(p []byte) (int, error) {
	n, err := c.SnapshotSink.Write(p)
	c.n += int64(n)
	return n, err
}

// timedRestore is the notifying FSM's restore with its duration observed.
func (f *notifyingFSM) timedRestore(rc io.ReadCloser) error {
	start := time.Now()
	err := f.FSM.Restore(rc)
	if err == nil && f.m != nil {
		f.m.snapRestore.Observe(time.Since(start).Seconds())
	}
	return err
}
