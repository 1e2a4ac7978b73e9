package alerts

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publishgate/publishgate/upstream"
)

// Describe implements prometheus.Collector for the gauges.
func (o *Observer) Describe(ch chan<- *prometheus.Desc) {
	ch <- o.botsDesc
	ch <- o.oldestDesc
	ch <- o.upDesc
}

// Collect implements prometheus.Collector: the gauges are computed from
// the view at each scrape, so the age of a publish in progress keeps
// growing between two observations of it.
func (o *Observer) Collect(ch chan<- prometheus.Metric) {
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for name, e := range o.envs {
		counts := make(map[upstream.State]int, len(States))
		var oldest time.Duration
		for _, b := range e.bots {
			if b.never || now.Sub(b.seenAt) > o.maxAge {
				continue
			}
			counts[b.state]++
			if b.state == upstream.StateInProgress && !b.started.IsZero() {
				oldest = max(oldest, now.Sub(b.started))
			}
		}
		for _, s := range States {
			ch <- prometheus.MustNewConstMetric(o.botsDesc, prometheus.GaugeValue, float64(counts[s]), name, string(s))
		}
		ch <- prometheus.MustNewConstMetric(o.oldestDesc, prometheus.GaugeValue, oldest.Seconds(), name)
		up := 0.0
		if e.up(now) {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(o.upDesc, prometheus.GaugeValue, up, name)
	}
}
