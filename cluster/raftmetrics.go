package cluster

import (
	"strings"
	"time"
	"unicode"

	gmetrics "github.com/hashicorp/go-metrics/compat"
	gmprom "github.com/hashicorp/go-metrics/compat/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// raftBridge carries the Raft library's go-metrics into a Prometheus
// registry under Prometheus' naming conventions. go-metrics' own sink
// names a series after its key as Raft spells it (sessiond_raft_apply for
// a counter, sessiond_raft_boltdb_getLog), which `promtool check metrics`
// refuses: counters must end in _total, names are snake_case, and a
// duration is in seconds with the unit in its name. So the sink writes to
// a private registry and this collector renames each family at scrape
// time; the values are untouched (timers are measured in seconds, see
// raftMetricsConfig).
type raftBridge struct {
	src *prometheus.Registry
}

// newRaftBridge builds the sink and the renaming collector in front of it.
func newRaftBridge() (*raftBridge, *gmprom.PrometheusSink, error) {
	src := prometheus.NewRegistry()
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{Registerer: src, Name: "sessiond_raft_bridge", Expiration: 5 * time.Minute})
	if err != nil {
		return nil, nil, err
	}
	return &raftBridge{src: src}, sink, nil
}

// raftMetricsConfig is the go-metrics configuration of the bridge: keys
// prefixed "sessiond", no host name or runtime metrics (the Go collector
// has those), timers in seconds, and Raft's legacy per-peer copies of its
// replication metrics blocked (they put the peer's ID in the metric name;
// the same values come with a peer_id label).
func raftMetricsConfig() *gmetrics.Config {
	cfg := gmetrics.DefaultConfig("sessiond")
	cfg.EnableHostname = false
	cfg.EnableRuntimeMetrics = false
	cfg.TimerGranularity = time.Second
	cfg.BlockedPrefixes = []string{
		// A trailing dot blocks only the longer, per-peer key.
		"sessiond.raft.replication.appendEntries.rpc.",
		"sessiond.raft.replication.appendEntries.logs.",
		"sessiond.raft.replication.heartbeat.",
		"sessiond.raft.replication.installSnapshot.",
	}
	return cfg
}

// Describe describes nothing: the bridge is an unchecked collector, since
// Raft creates its series as it first emits them.
func (b *raftBridge) Describe(chan<- *prometheus.Desc) {}

// Collect gathers the sink's families and sends them renamed.
func (b *raftBridge) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := b.src.Gather() // a partial gather still sends what it has
	for _, mf := range mfs {
		name, help := raftMetricName(mf.GetName(), mf.GetType())
		for _, m := range mf.GetMetric() {
			if pm := constMetric(name, help, mf.GetType(), m); pm != nil {
				ch <- pm
			}
		}
	}
}

// constMetric rebuilds one sample under its new name; nil for a type the
// sink does not produce.
func constMetric(name, help string, t dto.MetricType, m *dto.Metric) prometheus.Metric {
	var names, values []string
	for _, l := range m.GetLabel() {
		names = append(names, snakeCase(l.GetName())) // rpcType → rpc_type
		values = append(values, l.GetValue())
	}
	desc := prometheus.NewDesc(name, help, names, nil)
	var pm prometheus.Metric
	var err error
	switch t {
	case dto.MetricType_COUNTER:
		pm, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, m.GetCounter().GetValue(), values...)
	case dto.MetricType_GAUGE:
		pm, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, m.GetGauge().GetValue(), values...)
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		q := make(map[float64]float64, len(s.GetQuantile()))
		for _, x := range s.GetQuantile() {
			q[x.GetQuantile()] = x.GetValue()
		}
		pm, err = prometheus.NewConstSummary(desc, s.GetSampleCount(), s.GetSampleSum(), q, values...)
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	return pm
}

// raftTimers are the go-metrics keys (after "sessiond_raft_") that Raft
// and raft-boltdb measure with MeasureSince: durations, in seconds under
// raftMetricsConfig, so their names get the _seconds unit. The other
// summaries are sizes, counts or Raft's own milliseconds (AddSample) and
// keep their names.
var raftTimers = map[string]bool{
	"boltdb_getLog": true, "boltdb_storeLogs": true,
	"candidate_electSelf": true, "candidate_preElectSelf": true,
	"commitTime": true, "compactLogs": true, "removeOldLogs": true, "restoreUserSnapshot": true,
	"fsm_apply": true, "fsm_applyBatch": true, "fsm_enqueue": true, "fsm_restore": true,
	"fsm_snapshot": true, "fsm_store_config": true,
	"leader_dispatchLog": true,
	"net_getRPCType":     true, "net_rpcDecode": true, "net_rpcEnqueue": true, "net_rpcRespond": true,
	"replication_appendEntries_rpc": true, "replication_heartbeat": true, "replication_installSnapshot": true,
	"rpc_appendEntries": true, "rpc_appendEntries_processLogs": true, "rpc_appendEntries_storeLogs": true,
	"rpc_installSnapshot": true, "rpc_processHeartbeat": true, "rpc_requestVote": true,
	"snapshot_create": true, "snapshot_persist": true, "snapshot_takeSnapshot": true,
}

// raftMetricName maps a sink name onto Prometheus conventions and gives
// its help text, which names the sink's name so Raft's documentation
// (raft.boltdb.getLog, …) can still be looked up.
func raftMetricName(name string, t dto.MetricType) (string, string) {
	const prefix = "sessiond_raft_"
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return snakeCase(name), "Raft library metric " + name + "."
	}
	out := prefix + snakeCase(rest)
	help := "Raft library metric " + name + " (hashicorp/raft via go-metrics)."
	switch {
	case t == dto.MetricType_COUNTER:
		out = strings.TrimSuffix(out, "_total") + "_total"
	case t == dto.MetricType_SUMMARY && raftTimers[rest]:
		out += "_seconds"
		help = "Raft library timer " + name + ", in seconds (hashicorp/raft via go-metrics)."
	}
	return out, help
}

// snakeCase turns camelCase words into snake_case: getLog → get_log,
// getRPCType → get_rpc_type.
func snakeCase(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			prevLower := i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]))
			nextLower := i > 0 && i+1 < len(rs) && unicode.IsUpper(rs[i-1]) && unicode.IsLower(rs[i+1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
