package webhook

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond/fsm"
)

// metrics are per subscription (label "webhook", its id): how far behind
// it is, in log entries and in seconds, and its deliveries, failures and
// pauses.
type metrics struct {
	lagEntries *prometheus.GaugeVec
	lagSeconds *prometheus.GaugeVec
	deliveries *prometheus.CounterVec
	failures   *prometheus.CounterVec
	pauses     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	l := []string{"webhook"}
	m := &metrics{
		lagEntries: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sessiond_webhook_lag_entries",
			Help: "Log entries between a subscription's delivered cursor and the newest event (leader only)."}, l),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sessiond_webhook_lag_seconds",
			Help: "Age of the oldest event a subscription has not been delivered yet (leader only)."}, l),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sessiond_webhook_delivered_events_total",
			Help: "Events delivered to a subscription (at least once: a failover may repeat some)."}, l),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sessiond_webhook_failures_total",
			Help: "Failed delivery calls to a subscription (each is retried with backoff)."}, l),
		pauses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sessiond_webhook_pauses_total",
			Help: "Times a subscription was paused for failing longer than --webhook-pause-after or falling behind retention."}, l),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.lagEntries, m.lagSeconds, m.deliveries, m.failures, m.pauses} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					panic(err)
				}
			}
		}
	}
	return m
}

// observeLag sets the lag gauges of id: cursor cur, newest event last,
// evs the events after cur (oldest first).
func (m *metrics) observeLag(id string, cur, last fsm.EventID, evs []fsm.Event, now time.Time) {
	var entries uint64
	if cur.Less(last) && last.Index > cur.Index {
		entries = last.Index - cur.Index
	}
	m.lagEntries.WithLabelValues(id).Set(float64(entries))
	secs := 0.0
	if len(evs) > 0 && evs[0].Time > 0 {
		secs = max(0, now.Sub(time.Unix(0, evs[0].Time)).Seconds())
	}
	m.lagSeconds.WithLabelValues(id).Set(secs)
}

// forget drops id's lag gauges when its worker stops (another node leads,
// or it was paused or deleted): a stale gauge would report a lag that no
// longer exists here. Counters stay.
func (m *metrics) forget(id string) {
	m.lagEntries.DeleteLabelValues(id)
	m.lagSeconds.DeleteLabelValues(id)
}
