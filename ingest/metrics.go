package ingest

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	events     *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	secondPass *prometheus.CounterVec
	deleted    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herd_telemetry_events_total", Help: "Telemetry events stored, by result (stored, duplicate).",
		}, []string{"result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herd_telemetry_rejected_total", Help: "Telemetry events rejected, by code (consent, invalid).",
		}, []string{"code"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herd_telemetry_fields_dropped_total", Help: "Fields dropped from telemetry events because the data inventory does not declare them or they did not parse, by event type.",
		}, []string{"type"}),
		secondPass: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herd_scrub_second_pass_hits_total", Help: "Things the cloud's scrubbing removed that the agent should already have removed, by event type.",
		}, []string{"type"}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herd_consent_deleted_events_total", Help: "Stored events erased because consent for their category was withdrawn.",
		}, []string{"category"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.rejected, m.dropped, m.secondPass, m.deleted)
	}
	return m
}
