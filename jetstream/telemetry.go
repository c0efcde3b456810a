package jetstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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

// TelemetrySink appends telemetry to a JetStream stream.
//
// Events are stored in groups: one message per append, category and device
// pseudonym, on subject herd.telemetry.<category>.<device pseudonym>, its data
// a JSON array of the events, its Herd-Events header their number. Writing a
// hundred events as three messages instead of a hundred is what makes
// ingest fast (each message costs the file store a write of its own), and
// the subject still lets one device's data of one category be found and
// erased without reading anything else.
//
// De-duplication works at two levels. A group's Nats-Msg-Id is a hash of
// its events' de-duplication ids, so an exact re-send (what agents do after
// a lost answer) is recognised by JetStream on every replica within the
// dedup window, across restarts. Each sink also remembers the ids of the
// last Config.DedupMemory events it stored, so an event re-sent in a
// different company is recognised while it is among them.
type TelemetrySink struct {
	js     natsjs.JetStream
	stream natsjs.Stream
	recent *recentIDs
	maxAge time.Duration // the stream's max age: the longest any event is kept
}

// Header names on telemetry messages.
const (
	// EventsHeader gives the number of events in a telemetry message.
	EventsHeader = "Herd-Events"
	// maxGroupBytes bounds one message's data, well under NATS's default
	// 1 MiB payload limit.
	maxGroupBytes = 256 << 10
)

var _ herd.TelemetrySink = (*TelemetrySink)(nil)

func openTelemetry(ctx context.Context, js natsjs.JetStream, cfg Config) (*TelemetrySink, error) {
	st, err := js.CreateOrUpdateStream(ctx, natsjs.StreamConfig{
		Name:        TelemetryStream,
		Description: "raw telemetry events from agents, grouped per append, category and device",
		Subjects:    []string{telemetrySubject + ">"},
		Storage:     natsjs.FileStorage,
		Retention:   natsjs.LimitsPolicy,
		MaxAge:      cfg.TelemetryMaxAge,
		AllowMsgTTL: true, // each event type's retention (data inventory)
		Duplicates:  cfg.DedupWindow,
		Discard:     natsjs.DiscardOld,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry stream: %w", err)
	}
	return &TelemetrySink{js: js, stream: st, recent: newRecentIDs(cfg.DedupMemory), maxAge: cfg.TelemetryMaxAge}, nil
}

// group is the events of one message.
type group struct {
	subject   string
	retention time.Duration // 0: the stream's max age
	events    []herd.StoredEvent
	keys      [][16]byte // their de-duplication keys, reserved in recent
	data      []byte
}

// Append publishes the events and waits until JetStream has acknowledged
// every message. Events are grouped by category and device pseudonym in
// the order given, groups cut at maxGroupBytes.
func (t *TelemetrySink) Append(ctx context.Context, events []herd.StoredEvent) (herd.AppendResult, error) {
	var res herd.AppendResult
	for _, ev := range events {
		if !subjectToken(string(ev.Category)) || !subjectToken(ev.Device) || ev.DedupID == "" {
			return res, fmt.Errorf("append event: category %q, device %q, dedup id %q: not storable", ev.Category, ev.Device, ev.DedupID)
		}
	}
	// Reserve the ids first: an event this sink stored is a duplicate; one
	// it is storing for a concurrent append is not known to be stored yet,
	// so the whole append is refused, to be sent again.
	fresh := make([]bool, len(events))
	keys := make([][16]byte, len(events))
	for i, ev := range events {
		keys[i] = dedupKey(ev.DedupID)
	}
	if !t.recent.reserve(keys, fresh) {
		return res, &herd.Error{Code: herd.EUNAVAILABLE, Message: "telemetry store: events of this batch are still being stored for an earlier request; send it again shortly"}
	}
	groups, err := makeGroups(events, keys, fresh)
	if err != nil {
		var reserved [][16]byte
		for i, k := range keys {
			if fresh[i] {
				reserved = append(reserved, k)
			}
		}
		t.recent.forget(reserved)
		return res, err
	}
	for i := range fresh {
		if !fresh[i] {
			res.Duplicates++
		}
	}
	futures := make([]natsjs.PubAckFuture, len(groups))
	fail := func(from int, err error) (herd.AppendResult, error) {
		// Groups not acknowledged may be re-sent: forget their ids (one
		// that was stored after all is recognised by its message id).
		for _, g := range groups[from:] {
			t.recent.forget(g.keys)
		}
		return res, err
	}
	for i, g := range groups {
		msg := &nats.Msg{Subject: g.subject, Data: g.data, Header: nats.Header{}}
		msg.Header.Set(natsjs.MsgIDHeader, groupID(g.keys))
		msg.Header.Set(EventsHeader, strconv.Itoa(len(g.events)))
		if g.retention > 0 && (t.maxAge == 0 || g.retention < t.maxAge) {
			// JetStream removes the message when its type's retention ends.
			msg.Header.Set(natsjs.MsgTTLHeader, g.retention.String())
		}
		f, err := t.js.PublishMsgAsync(msg)
		if err != nil {
			return fail(0, unavailable(err))
		}
		futures[i] = f
	}
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				res.Duplicates += len(groups[i].events)
			} else {
				res.Stored += len(groups[i].events)
			}
			t.recent.stored(groups[i].keys)
		case err := <-f.Err():
			return fail(i, unavailable(err))
		case <-ctx.Done():
			return fail(i, ctx.Err())
		}
	}
	return res, nil
}

// makeGroups groups the fresh events by subject, in order, and encodes each
// group, starting a new one where the data would pass maxGroupBytes.
func makeGroups(events []herd.StoredEvent, keys [][16]byte, fresh []bool) ([]*group, error) {
	var groups []*group
	open := map[string]*group{}
	for i, ev := range events {
		if !fresh[i] {
			continue
		}
		subj := subject(ev.Category, ev.Device)
		key := subj + "|" + ev.Retention.String() // a group's events are kept alike
		g := open[key]
		if g == nil || len(g.data)+encodedSize(ev) > maxGroupBytes {
			g = &group{subject: subj, retention: ev.Retention, data: make([]byte, 0, min(maxGroupBytes, (len(events)-i)*encodedSize(ev)))}
			open[key] = g
			groups = append(groups, g)
		}
		if len(g.data) == 0 {
			g.data = append(g.data, '[')
		} else {
			g.data[len(g.data)-1] = ','
		}
		var err error
		if g.data, err = appendEvent(g.data, ev); err != nil {
			return nil, err
		}
		g.data = append(g.data, ']')
		g.events = append(g.events, ev)
		g.keys = append(g.keys, keys[i])
	}
	return groups, nil
}

// encodedSize is about what appendEvent adds for ev.
func encodedSize(ev herd.StoredEvent) int {
	return 96 + len(ev.Type) + len(ev.Category) + len(ev.Country) + len(ev.Device) + len(ev.Payload)
}

// appendEvent appends ev as JSON with the meaning json.Marshal would give
// it, without reflection (this runs for every event stored) and without
// escaping <, > and & in the payload.
func appendEvent(dst []byte, ev herd.StoredEvent) ([]byte, error) {
	payload := ev.Payload
	if !json.Valid(payload) {
		return dst, fmt.Errorf("encode event: payload is not valid JSON")
	}
	dst = append(dst, `{"type":`...)
	dst = appendJSONString(dst, ev.Type)
	dst = append(dst, `,"category":`...)
	dst = appendJSONString(dst, string(ev.Category))
	dst = append(dst, `,"hour":"`...)
	dst = ev.Hour.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","country":`...)
	dst = appendJSONString(dst, ev.Country)
	if ev.ASN != 0 {
		dst = append(dst, `,"asn":`...)
		dst = strconv.AppendUint(dst, uint64(ev.ASN), 10)
	}
	dst = append(dst, `,"device":`...)
	dst = appendJSONString(dst, ev.Device)
	dst = append(dst, `,"payload":`...)
	dst = append(dst, payload...)
	return append(dst, '}'), nil
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // strings always encode
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// dedupKey shortens an event's de-duplication id to what recent keeps.
func dedupKey(id string) [16]byte {
	sum := sha256.Sum256([]byte(id))
	return [16]byte(sum[:16])
}

// groupID is a group's Nats-Msg-Id: a hash of its events' keys in sorted
// order, so the same events re-sent in any order give the same id.
func groupID(keys [][16]byte) string {
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	h := sha256.New()
	for _, k := range sorted {
		h.Write(k[:])
	}
	return hex.EncodeToString(h.Sum(nil))
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
		msgs, err := t.messages(ctx, subj)
		if err != nil {
			return deleted, 0, err
		}
		for _, m := range msgs {
			err := t.stream.SecureDeleteMsg(ctx, m.seq)
			if errors.Is(err, natsjs.ErrMsgNotFound) {
				continue // deleted meanwhile, by another request or by age
			}
			if err != nil {
				return deleted, 0, unavailable(err)
			}
			deleted += m.events
		}
		left, err := t.messages(ctx, subj)
		if err != nil {
			return deleted, 0, err
		}
		for _, m := range left {
			remaining += m.events
		}
	}
	return deleted, remaining, nil
}

// msgRef is a stored telemetry message: its sequence and number of events.
type msgRef struct {
	seq, events uint64
}

// messages lists the messages on subjects matching filter, reading only
// their headers.
func (t *TelemetrySink) messages(ctx context.Context, filter string) ([]msgRef, error) {
	n, err := t.count(ctx, filter)
	if err != nil || n == 0 {
		return nil, err
	}
	cons, err := t.stream.OrderedConsumer(ctx, natsjs.OrderedConsumerConfig{FilterSubjects: []string{filter}, HeadersOnly: true})
	if err != nil {
		return nil, unavailable(err)
	}
	var refs []msgRef
	for uint64(len(refs)) < n {
		batch, err := cons.FetchNoWait(int(min(n-uint64(len(refs)), 1000)))
		if err != nil {
			return nil, unavailable(err)
		}
		got := 0
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return nil, unavailable(err)
			}
			events, err := strconv.ParseUint(m.Headers().Get(EventsHeader), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("telemetry message %d: %s header: %w", md.Sequence.Stream, EventsHeader, err)
			}
			refs = append(refs, msgRef{md.Sequence.Stream, events})
			got++
		}
		if batch.Error() != nil {
			return nil, unavailable(batch.Error())
		}
		if got == 0 {
			break // the rest was deleted meanwhile
		}
	}
	return refs, nil
}

// count returns how many messages the subjects matching filter hold.
func (t *TelemetrySink) count(ctx context.Context, filter string) (uint64, error) {
	info, err := t.stream.Info(ctx, natsjs.WithSubjectFilter(filter))
	if err != nil {
		return 0, unavailable(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, nil
}

func unavailable(err error) error {
	return &herd.Error{Code: herd.EUNAVAILABLE, Message: "telemetry store unavailable: " + err.Error()}
}

// Stats returns the stream's current size. Counting events reads the
// header of every message (not their data).
func (t *TelemetrySink) Stats(ctx context.Context) (herd.TelemetryStats, error) {
	info, err := t.stream.Info(ctx)
	if err != nil {
		return herd.TelemetryStats{}, unavailable(err)
	}
	s := info.State
	st := herd.TelemetryStats{Messages: s.Msgs, Bytes: s.Bytes, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq}
	if s.Msgs == 0 {
		return st, nil
	}
	refs, err := t.messages(ctx, telemetrySubject+">")
	if err != nil {
		return herd.TelemetryStats{}, err
	}
	for _, r := range refs {
		st.Events += r.events
	}
	return st, nil
}

// Stored is an event as read back from the stream.
type Stored struct {
	Seq     uint64 // of the message holding it
	Subject string
	herd.StoredEvent
}

// Each calls fn for every stored event in stream order.
func (t *TelemetrySink) Each(ctx context.Context, fn func(Stored) error) error {
	info, err := t.stream.Info(ctx)
	if err != nil {
		return unavailable(err)
	}
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := t.stream.GetMsg(ctx, seq)
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return unavailable(err)
		}
		var events []herd.StoredEvent
		if err := json.Unmarshal(m.Data, &events); err != nil {
			return fmt.Errorf("decode telemetry message %d: %w", seq, err)
		}
		keep, _ := time.ParseDuration(m.Header.Get(natsjs.MsgTTLHeader)) // none: the stream's max age
		for _, ev := range events {
			ev.Retention = keep
			if err := fn(Stored{Seq: seq, Subject: m.Subject, StoredEvent: ev}); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxDeliveries bounds how often a consumer is given one group whose
// processing keeps failing.
const maxDeliveries = 20

// Group is one stored telemetry message: the events of one append, one
// category and one device pseudonym.
type Group struct {
	Seq      uint64
	Category herd.Category
	Device   string
	Events   []herd.StoredEvent
}

// Consume delivers every stored group of the given categories, from the
// oldest, to fn through the durable consumer name, then follows the stream
// until ctx ends. Replicas consuming under one name share the work: each
// group goes to one of them, and is delivered again if fn fails or the
// replica dies before fn returns, at most maxDeliveries times. A group
// that cannot be decoded is not delivered at all.
func (t *TelemetrySink) Consume(ctx context.Context, name string, categories []herd.Category, fn func(context.Context, Group) error) error {
	filters := make([]string, len(categories))
	for i, c := range categories {
		filters[i] = telemetrySubject + string(c) + ".>"
	}
	cons, err := t.stream.CreateOrUpdateConsumer(ctx, natsjs.ConsumerConfig{
		Durable:        name,
		Description:    "telemetry consumer " + name,
		FilterSubjects: filters,
		DeliverPolicy:  natsjs.DeliverAllPolicy,
		AckPolicy:      natsjs.AckExplicitPolicy,
		AckWait:        30 * time.Second,
		MaxDeliver:     maxDeliveries,
		MaxAckPending:  1000,
	})
	if err != nil {
		return unavailable(err)
	}
	it, err := cons.Messages(natsjs.PullMaxMessages(256))
	if err != nil {
		return unavailable(err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, natsjs.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return unavailable(err)
		}
		md, err := m.Metadata()
		if err != nil {
			m.Nak()
			continue
		}
		g := Group{Seq: md.Sequence.Stream}
		rest, ok := strings.CutPrefix(m.Subject(), telemetrySubject)
		cat, dev, ok2 := strings.Cut(rest, ".")
		if !ok || !ok2 {
			m.Term()
			continue
		}
		g.Category, g.Device = herd.Category(cat), dev
		if err := json.Unmarshal(m.Data(), &g.Events); err != nil {
			m.Term()
			continue
		}
		if err := fn(ctx, g); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.NakWithDelay(time.Second)
			continue
		}
		m.Ack()
	}
}
