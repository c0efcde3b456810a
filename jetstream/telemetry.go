package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/herdsec/herd"
)

// TelemetryStream is the stream holding raw telemetry events, one subject
// per category: herd.telemetry.<category>.
const (
	TelemetryStream  = "HERD_TELEMETRY"
	telemetrySubject = "herd.telemetry."
)

// TelemetrySink appends telemetry to a JetStream stream, de-duplicated by
// event id (the Nats-Msg-Id header) within the configured window.
type TelemetrySink struct {
	js     natsjs.JetStream
	stream natsjs.Stream
}

var _ herd.TelemetrySink = (*TelemetrySink)(nil)

func openTelemetry(ctx context.Context, js natsjs.JetStream, cfg Config) (*TelemetrySink, error) {
	st, err := js.CreateOrUpdateStream(ctx, natsjs.StreamConfig{
		Name:        TelemetryStream,
		Description: "raw telemetry events from agents",
		Subjects:    []string{telemetrySubject + ">"},
		Storage:     natsjs.FileStorage,
		Retention:   natsjs.LimitsPolicy,
		MaxAge:      cfg.TelemetryMaxAge,
		Duplicates:  cfg.DedupWindow,
		Discard:     natsjs.DiscardOld,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry stream: %w", err)
	}
	return &TelemetrySink{js: js, stream: st}, nil
}

// storedEvent is the stored form of an event: the event itself, minus the
// id, which travels in the Nats-Msg-Id header.
type storedEvent struct {
	Category herd.Category   `json:"category"`
	Time     json.RawMessage `json:"time"`
	Payload  json.RawMessage `json:"payload"`
}

// Append publishes the events and waits until JetStream has acknowledged
// every one of them. Events must be valid (the caller validates).
func (t *TelemetrySink) Append(ctx context.Context, events []herd.Event) (herd.AppendResult, error) {
	var res herd.AppendResult
	futures := make([]natsjs.PubAckFuture, 0, len(events))
	for _, ev := range events {
		tm, err := ev.Time.MarshalJSON()
		if err != nil {
			return res, herd.Errorf(herd.EINVALID, "event %q: time: %v", ev.ID, err)
		}
		data, err := json.Marshal(storedEvent{Category: ev.Category, Time: tm, Payload: ev.Payload})
		if err != nil {
			return res, fmt.Errorf("encode event: %w", err)
		}
		msg := &nats.Msg{Subject: telemetrySubject + string(ev.Category), Data: data, Header: nats.Header{}}
		msg.Header.Set(natsjs.MsgIDHeader, ev.ID)
		f, err := t.js.PublishMsgAsync(msg)
		if err != nil {
			return res, unavailable(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				res.Duplicates++
			} else {
				res.Stored++
			}
		case err := <-f.Err():
			return res, unavailable(err)
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	return res, nil
}

func unavailable(err error) error {
	return &herd.Error{Code: herd.EUNAVAILABLE, Message: "telemetry store unavailable: " + err.Error()}
}

// Stats returns the stream's current size.
func (t *TelemetrySink) Stats(ctx context.Context) (herd.TelemetryStats, error) {
	info, err := t.stream.Info(ctx)
	if err != nil {
		return herd.TelemetryStats{}, unavailable(err)
	}
	s := info.State
	return herd.TelemetryStats{Events: s.Msgs, Bytes: s.Bytes, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq}, nil
}

// StoredEvent is an event as read back from the stream.
type StoredEvent struct {
	Seq uint64
	herd.Event
}

// Each calls fn for every stored event in stream order.
func (t *TelemetrySink) Each(ctx context.Context, fn func(StoredEvent) error) error {
	st, err := t.Stats(ctx)
	if err != nil {
		return err
	}
	for seq := st.FirstSeq; seq > 0 && seq <= st.LastSeq; seq++ {
		m, err := t.stream.GetMsg(ctx, seq)
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return unavailable(err)
		}
		var se storedEvent
		if err := json.Unmarshal(m.Data, &se); err != nil {
			return fmt.Errorf("decode event %d: %w", seq, err)
		}
		ev := StoredEvent{Seq: seq, Event: herd.Event{ID: m.Header.Get(natsjs.MsgIDHeader), Category: se.Category, Payload: se.Payload}}
		if err := ev.Time.UnmarshalJSON(se.Time); err != nil {
			return fmt.Errorf("decode event %d: %w", seq, err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}
