package httpapi

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	duration *prometheus.HistogramVec
	lookups  prometheus.Counter
	errors   *prometheus.CounterVec
	streams  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herd_http_request_duration_seconds",
			Help:    "Time to answer an API request, by route.",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, 1, 5},
		}, []string{"route"}),
		lookups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herd_lookup_objects_total", Help: "Objects looked up by agents.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herd_api_errors_total", Help: "Error answers, by error code.",
		}, []string{"code"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herd_verdict_streams", Help: "Connected verdict change stream clients.",
		}),
	}
	reg.MustRegister(m.duration, m.lookups, m.errors, m.streams)
	return m
}
