package cloud

import (
	"context"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/jetstream"
)

// storedEvents lets the anonymization audit read the telemetry stream.
type storedEvents struct{ sink *jetstream.TelemetrySink }

var _ httpapi.StoredEventSource = storedEvents{}

func (s storedEvents) EachStored(ctx context.Context, fn func(herd.StoredEvent) error) error {
	return s.sink.Each(ctx, func(st jetstream.Stored) error { return fn(st.StoredEvent) })
}
