package jetstream

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herdsec/herd/audit"
)

func auditMAC(b []byte) (string, error) {
	m := hmac.New(sha256.New, []byte("test key"))
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil)), nil
}

// TestAuditTamper tampers with the audit stream itself, as someone with
// access to NATS could: deleting an entry in the middle or at the end, or
// rewriting the stream with one entry edited or two swapped. Verify finds
// each; the intact stream verifies, across a restart.
func TestAuditTamper(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fill := func(t *testing.T) (*DB, *AuditLog) {
		db := mustOpen(t, t.TempDir())
		a := db.Audit()
		for i := range 8 {
			if _, err := a.Append(ctx, audit.Entry{Time: time.Now().UTC(), Operator: "ops", Action: "GET /v1/admin/licenses/{id}", Target: fmt.Sprint("/v1/admin/licenses/L", i)}, auditMAC); err != nil {
				t.Fatal(err)
			}
		}
		if r, err := a.Verify(ctx, auditMAC); err != nil || !r.OK || r.Entries != 8 {
			t.Fatalf("intact: %+v %v", r, err)
		}
		return db, a
	}
	rewrite := func(t *testing.T, a *AuditLog, change func([]audit.Entry) []audit.Entry) {
		entries, _, err := a.Entries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.stream.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		for _, e := range change(entries) {
			b, _ := json.Marshal(e)
			if _, err := a.js.PublishMsg(ctx, &nats.Msg{Subject: auditSubject, Data: b}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, a *AuditLog)
	}{
		{"delete in the middle", func(t *testing.T, a *AuditLog) {
			if err := a.stream.DeleteMsg(ctx, 4); err != nil {
				t.Fatal(err)
			}
		}},
		{"delete the last", func(t *testing.T, a *AuditLog) {
			if err := a.stream.DeleteMsg(ctx, 8); err != nil {
				t.Fatal(err)
			}
		}},
		{"edit one", func(t *testing.T, a *AuditLog) {
			rewrite(t, a, func(es []audit.Entry) []audit.Entry { es[2].Operator = "nobody"; return es })
		}},
		{"swap two", func(t *testing.T, a *AuditLog) {
			rewrite(t, a, func(es []audit.Entry) []audit.Entry { es[5], es[6] = es[6], es[5]; return es })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, a := fill(t)
			tc.tamper(t, a)
			r, err := a.Verify(ctx, auditMAC)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK || r.Problem == "" {
				t.Fatalf("tampered stream verified: %+v", r)
			}
			t.Logf("%s: %s", tc.name, r.Problem)
		})
	}

	// Appends after a restart chain onto the stored entries.
	dir := t.TempDir()
	db, err := Open(ctx, Config{Dir: dir, MaxMemory: 64 << 20, MaxStore: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Audit().Append(ctx, audit.Entry{Operator: "a", Action: "x"}, auditMAC); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2 := mustOpen(t, dir)
	if _, err := db2.Audit().Append(ctx, audit.Entry{Operator: "b", Action: "y"}, auditMAC); err != nil {
		t.Fatal(err)
	}
	if r, err := db2.Audit().Verify(ctx, auditMAC); err != nil || !r.OK || r.Entries != 2 {
		t.Fatalf("after restart: %+v %v", r, err)
	}
}

// mustOpen opens an embedded store in dir, closed when the test ends.
func mustOpen(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(context.Background(), Config{Dir: dir, MaxMemory: 64 << 20, MaxStore: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
