package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/audit"
)

// AuditStream holds the audit chain: one message per entry, entry n at
// stream sequence n.
const (
	AuditStream  = "HERD_AUDIT"
	auditSubject = "herd.audit"
)

// AuditLog appends to and reads the audit chain.
type AuditLog struct {
	js     natsjs.JetStream
	stream natsjs.Stream

	mu      sync.Mutex
	last    *audit.Entry // the newest entry this replica knows of
	lastSeq uint64       // its stream sequence
}

func openAudit(ctx context.Context, js natsjs.JetStream, cfg Config) (*AuditLog, error) {
	st, err := js.CreateOrUpdateStream(ctx, natsjs.StreamConfig{
		Name:        AuditStream,
		Description: "hash-chained record of admin actions and reads of identity data",
		Subjects:    []string{auditSubject},
		Storage:     natsjs.FileStorage,
		Retention:   natsjs.LimitsPolicy,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("audit stream: %w", err)
	}
	return &AuditLog{js: js, stream: st}, nil
}

// Audit returns the audit log.
func (db *DB) Audit() *AuditLog { return db.audit }

// Append chains e after the newest entry and stores it. Appends from
// several replicas are ordered by JetStream: each publish expects the
// stream's last sequence to be the entry it chained after, and is chained
// again if another replica appended first.
func (a *AuditLog) Append(ctx context.Context, e audit.Entry, mac audit.MAC) (audit.Entry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range 32 {
		if a.last == nil {
			if err := a.loadLast(ctx); err != nil {
				return e, err
			}
		}
		sealed, err := audit.Seal(e, a.last, mac)
		if err != nil {
			return e, err
		}
		b, err := json.Marshal(sealed)
		if err != nil {
			return e, err
		}
		ack, err := a.js.PublishMsg(ctx, &nats.Msg{Subject: auditSubject, Data: b}, natsjs.WithExpectLastSequence(a.lastSeq))
		var apiErr *natsjs.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence {
			a.last = nil // another replica appended: chain after its entry
			if err := a.loadLast(ctx); err != nil {
				return e, err
			}
			continue
		}
		if err != nil {
			return e, &herd.Error{Code: herd.EUNAVAILABLE, Message: "audit log unavailable: " + err.Error()}
		}
		a.last, a.lastSeq = &sealed, ack.Sequence
		return sealed, nil
	}
	return e, herd.Errorf(herd.EUNAVAILABLE, "audit log: too many concurrent appends; try again")
}

// loadLast reads the stream's newest entry.
func (a *AuditLog) loadLast(ctx context.Context) error {
	info, err := a.stream.Info(ctx)
	if err != nil {
		return &herd.Error{Code: herd.EUNAVAILABLE, Message: "audit log unavailable: " + err.Error()}
	}
	a.last, a.lastSeq = nil, info.State.LastSeq
	if info.State.LastSeq == 0 {
		return nil
	}
	m, err := a.stream.GetMsg(ctx, info.State.LastSeq)
	if errors.Is(err, natsjs.ErrMsgNotFound) {
		return herd.Errorf(herd.EINTERNAL, "audit log: its newest entry (%d) is gone: the chain was tampered with", info.State.LastSeq)
	}
	if err != nil {
		return &herd.Error{Code: herd.EUNAVAILABLE, Message: "audit log unavailable: " + err.Error()}
	}
	var e audit.Entry
	if err := json.Unmarshal(m.Data, &e); err != nil {
		return herd.Errorf(herd.EINTERNAL, "audit log: entry at %d does not decode: the chain was tampered with", info.State.LastSeq)
	}
	a.last = &e
	return nil
}

// Entries returns the stored entries, oldest first, and the stream's last
// sequence (entry n is at sequence n, so a gap or a shorter list shows a
// removed entry). An entry that does not decode is returned as far as it
// decodes, and then fails verification.
func (a *AuditLog) Entries(ctx context.Context) ([]audit.Entry, uint64, error) {
	info, err := a.stream.Info(ctx)
	if err != nil {
		return nil, 0, &herd.Error{Code: herd.EUNAVAILABLE, Message: "audit log unavailable: " + err.Error()}
	}
	var out []audit.Entry
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := a.stream.GetMsg(ctx, seq)
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, &herd.Error{Code: herd.EUNAVAILABLE, Message: "audit log unavailable: " + err.Error()}
		}
		var e audit.Entry
		_ = json.Unmarshal(m.Data, &e)
		out = append(out, e)
	}
	return out, info.State.LastSeq, nil
}

// Verify checks the chain as stored: every entry, and that none is
// missing at the end either.
func (a *AuditLog) Verify(ctx context.Context, mac audit.MAC) (audit.Report, error) {
	entries, last, err := a.Entries(ctx)
	if err != nil {
		return audit.Report{}, err
	}
	r := audit.Verify(entries, mac)
	if r.OK && uint64(len(entries)) != last {
		r.OK, r.BadSeq, r.Problem = false, uint64(len(entries))+1, fmt.Sprintf("entries %d to %d were removed from the end", len(entries)+1, last)
	}
	return r, nil
}
