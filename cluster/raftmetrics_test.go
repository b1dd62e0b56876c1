package cluster

import (
	"strings"
	"testing"
	"time"

	gmetrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestRaftBridge_PromlintClean emits the shapes of metric Raft and
// raft-boltdb emit (camelCase counters, timers, samples, per-peer legacy
// keys) through a bridge of its own, not the process-global one, and lints
// what a registry gathers: no problem, counters end in _total, timers are
// seconds, the per-peer legacy names are gone.
func TestRaftBridge_PromlintClean(t *testing.T) {
	b, sink, err := newRaftBridge()
	if err != nil {
		t.Fatal(err)
	}
	m, err := gmetrics.New(raftMetricsConfig(), sink)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-1500 * time.Millisecond)
	peer := []gmetrics.Label{{Name: "peer_id", Value: "node2"}}
	m.IncrCounter([]string{"raft", "apply"}, 1)
	m.IncrCounter([]string{"raft", "boltdb", "totalReadTxn"}, 3)
	m.IncrCounter([]string{"raft", "transition", "heartbeat_timeout"}, 1)
	m.MeasureSince([]string{"raft", "boltdb", "getLog"}, start)
	m.MeasureSince([]string{"raft", "net", "getRPCType"}, start)
	m.MeasureSinceWithLabels([]string{"raft", "net", "rpcDecode"}, start, []gmetrics.Label{{Name: "rpcType", Value: "AppendEntries"}})
	m.MeasureSinceWithLabels([]string{"raft", "replication", "appendEntries", "rpc"}, start, peer)
	m.IncrCounterWithLabels([]string{"raft", "replication", "appendEntries", "logs"}, 2, peer)
	m.MeasureSince([]string{"raft", "replication", "appendEntries", "rpc", "node2"}, start) // legacy
	m.IncrCounter([]string{"raft", "replication", "appendEntries", "logs", "node2"}, 2)     // legacy
	m.AddSample([]string{"raft", "boltdb", "logsPerBatch"}, 4)
	m.SetGauge([]string{"raft", "boltdb", "numFreePages"}, 7)
	m.SetGauge([]string{"raft", "peers"}, 3)

	reg := prometheus.NewRegistry()
	if err := reg.Register(b); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if strings.Contains(mf.GetName(), "node2") {
			t.Errorf("per-peer legacy name exposed: %s", mf.GetName())
		}
		for _, mm := range mf.GetMetric() {
			switch {
			case mm.Counter != nil:
				got[mf.GetName()] += mm.Counter.GetValue()
			case mm.Summary != nil:
				got[mf.GetName()] += mm.Summary.GetSampleSum()
			case mm.Gauge != nil:
				got[mf.GetName()] += mm.Gauge.GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"sessiond_raft_apply_total":                           1,
		"sessiond_raft_boltdb_total_read_txn_total":           3,
		"sessiond_raft_transition_heartbeat_timeout_total":    1,
		"sessiond_raft_replication_append_entries_logs_total": 2,
		"sessiond_raft_boltdb_logs_per_batch":                 4,
		"sessiond_raft_boltdb_num_free_pages":                 7,
		"sessiond_raft_peers":                                 3,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (exposed: %v), want %v", name, v, ok, want)
		}
	}
	for _, name := range []string{"sessiond_raft_boltdb_get_log_seconds", "sessiond_raft_net_get_rpc_type_seconds",
		"sessiond_raft_replication_append_entries_rpc_seconds", "sessiond_raft_net_rpc_decode_seconds"} {
		if v := got[name]; v < 1.4 || v > 60 { // 1.5 s ago, measured in seconds, not ms
			t.Errorf("%s sum = %v, want about 1.5 (seconds)", name, v)
		}
	}
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"boltdb_getLog": "boltdb_get_log", "net_getRPCType": "net_get_rpc_type", "commitTime": "commit_time",
		"fsm_store_config": "fsm_store_config", "txstats_pageCount": "txstats_page_count", "apply": "apply",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}
