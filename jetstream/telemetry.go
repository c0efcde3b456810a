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

// Append publishes the events and waits until JetStream has acknowledged
// every one of them. Each goes to herd.telemetry.<category>.<device
// pseudonym>, so that one device's data of one category can be found and
// deleted without reading anything else.
func (t *TelemetrySink) Append(ctx context.Context, events []herd.StoredEvent) (herd.AppendResult, error) {
	var res herd.AppendResult
	futures := make([]natsjs.PubAckFuture, 0, len(events))
	for _, ev := range events {
		if !subjectToken(string(ev.Category)) || !subjectToken(ev.Device) || ev.DedupID == "" {
			return res, fmt.Errorf("append event: category %q, device %q, dedup id %q: not storable", ev.Category, ev.Device, ev.DedupID)
		}
		data, err := json.Marshal(ev)
		if err != nil {
			return res, fmt.Errorf("encode event: %w", err)
		}
		msg := &nats.Msg{Subject: subject(ev.Category, ev.Device), Data: data, Header: nats.Header{}}
		msg.Header.Set(natsjs.MsgIDHeader, ev.DedupID)
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

func subject(c herd.Category, device string) string {
	return telemetrySubject + string(c) + "." + device
}

// subjectToken reports whether s can be one token of a subject.
func subjectToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Delete erases every event of category c stored under any of the device
// pseudonyms. Each message is securely erased (its bytes overwritten in the
// file store, not only marked deleted), then the count left is read back.
func (t *TelemetrySink) Delete(ctx context.Context, c herd.Category, devices []string) (deleted, remaining uint64, err error) {
	for _, d := range devices {
		if !subjectToken(d) {
			return deleted, 0, herd.Errorf(herd.EINVALID, "device pseudonym %q: not valid", d)
		}
		subj := subject(c, d)
		seqs, err := t.sequences(ctx, subj)
		if err != nil {
			return deleted, 0, err
		}
		for _, seq := range seqs {
			if err := t.stream.SecureDeleteMsg(ctx, seq); err != nil && !errors.Is(err, natsjs.ErrMsgNotFound) {
				return deleted, 0, unavailable(err)
			}
			deleted++
		}
		n, err := t.count(ctx, subj)
		if err != nil {
			return deleted, 0, err
		}
		remaining += n
	}
	return deleted, remaining, nil
}

// sequences lists the stream sequences of the messages on one subject.
func (t *TelemetrySink) sequences(ctx context.Context, subj string) ([]uint64, error) {
	n, err := t.count(ctx, subj)
	if err != nil || n == 0 {
		return nil, err
	}
	cons, err := t.stream.OrderedConsumer(ctx, natsjs.OrderedConsumerConfig{FilterSubjects: []string{subj}, HeadersOnly: true})
	if err != nil {
		return nil, unavailable(err)
	}
	var seqs []uint64
	for uint64(len(seqs)) < n {
		batch, err := cons.FetchNoWait(int(min(n-uint64(len(seqs)), 1000)))
		if err != nil {
			return nil, unavailable(err)
		}
		got := 0
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return nil, unavailable(err)
			}
			seqs = append(seqs, md.Sequence.Stream)
			got++
		}
		if batch.Error() != nil {
			return nil, unavailable(batch.Error())
		}
		if got == 0 {
			break // the rest was deleted meanwhile
		}
	}
	return seqs, nil
}

// count returns how many messages one subject holds.
func (t *TelemetrySink) count(ctx context.Context, subj string) (uint64, error) {
	info, err := t.stream.Info(ctx, natsjs.WithSubjectFilter(subj))
	if err != nil {
		return 0, unavailable(err)
	}
	return info.State.Subjects[subj], nil
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

// Stored is an event as read back from the stream.
type Stored struct {
	Seq     uint64
	Subject string
	herd.StoredEvent
}

// Each calls fn for every stored event in stream order.
func (t *TelemetrySink) Each(ctx context.Context, fn func(Stored) error) error {
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
		ev := Stored{Seq: seq, Subject: m.Subject}
		if err := json.Unmarshal(m.Data, &ev.StoredEvent); err != nil {
			return fmt.Errorf("decode event %d: %w", seq, err)
		}
		ev.DedupID = m.Header.Get(natsjs.MsgIDHeader)
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}
