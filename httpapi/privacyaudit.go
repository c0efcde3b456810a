package httpapi

import (
	"context"
	"net/http"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/privacyaudit"
)

// The anonymization audit (GET /v1/admin/privacy/audit): how anonymous
// the telemetry the cloud has stored really is, measured over the store
// itself (package privacyaudit), with what the second scrubbing pass
// caught and the privacy budget spent.

// StoredEventSource reads the telemetry store for the audit.
type StoredEventSource interface {
	// EachStored calls fn with every stored event, oldest first, and
	// stops at fn's first error, which it returns. A store that cannot be
	// read answers EUNAVAILABLE.
	EachStored(ctx context.Context, fn func(herd.StoredEvent) error) error
}

// secondPassMetric is ingest's count of what the cloud's scrubbing removed
// that the agent should have removed, by event type.
const secondPassMetric = "herd_scrub_second_pass_hits_total"

func (s *Server) handlePrivacyAudit(w http.ResponseWriter, r *http.Request) {
	if s.StoredEvents == nil {
		s.writeError(w, r, herd.Errorf(herd.EUNAVAILABLE, "this server reads no telemetry store"))
		return
	}
	q, err := privacyaudit.ParseRawQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a := privacyaudit.New(q.Config())
	err = s.StoredEvents.EachStored(r.Context(), func(ev herd.StoredEvent) error {
		a.Add(ev)
		return nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rep := a.Report()
	rep.SecondPass = s.secondPass()
	writeJSON(w, http.StatusOK, rep)
}

// secondPass reads ingest's second-pass counter from the registry. The
// pipeline counts hits per event type, not per field, and since this
// server started.
func (s *Server) secondPass() privacyaudit.SecondPass {
	sp := privacyaudit.SecondPass{Note: "counted by ingest per event type, not per field, since this server started"}
	families, err := s.Registry.Gather()
	if err != nil {
		sp.Note = "the metrics registry could not be read"
		return sp
	}
	for _, f := range families {
		if f.GetName() != secondPassMetric {
			continue
		}
		sp.Available = true
		sp.ByType = map[string]uint64{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "type" {
					n := uint64(m.GetCounter().GetValue())
					sp.ByType[l.GetValue()] += n
					sp.Total += n
				}
			}
		}
	}
	switch {
	case sp.Available:
	case s.Ingest != nil:
		// A counter without any label value is not gathered: nothing
		// was caught yet.
		sp.Available = true
	default:
		sp.Note = "this server runs no ingest pipeline whose scrubbing could be counted"
	}
	return sp
}

// PrivacyAudit runs the anonymization audit over the stored telemetry.
func (c *Client) PrivacyAudit(ctx context.Context, q privacyaudit.Query) (privacyaudit.Report, error) {
	path := "/v1/admin/privacy/audit"
	if v := q.Values(); len(v) > 0 {
		path += "?" + v.Encode()
	}
	var rep privacyaudit.Report
	err := c.do(ctx, http.MethodGet, path, nil, &rep)
	return rep, err
}
