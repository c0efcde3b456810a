package state_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/state"
)

func MustOpen(tb testing.TB, dir string) *state.Store {
	tb.Helper()
	s, err := state.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func ev(id string, c herd.Category) herd.Event {
	return herd.Event{ID: id, Type: "x", Category: c, Time: time.Unix(0, 0).UTC(), Payload: json.RawMessage(`{}`)}
}

func TestOutboxOrderPurgeAndRemove(t *testing.T) {
	s := MustOpen(t, t.TempDir())
	if _, err := s.Enqueue([]herd.Event{ev("a", herd.CategoryWeb), ev("b", herd.CategoryThreats), ev("c", herd.CategoryWeb), ev("d", herd.CategoryWeb), ev("e", herd.CategoryThreats)}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Purge(func(c herd.Category) bool { return c != herd.CategoryWeb })
	if err != nil || n != 3 {
		t.Fatalf("Purge = %d, %v; want 3 (adjacent entries included)", n, err)
	}
	q, err := s.Pending(0)
	if err != nil || len(q) != 2 || q[0].ID != "b" || q[1].ID != "e" {
		t.Fatalf("Pending after purge = %+v, %v", q, err)
	}
	if err := s.Remove([]uint64{q[0].Seq}); err != nil {
		t.Fatal(err)
	}
	if q, _ := s.Pending(1); len(q) != 1 || q[0].ID != "e" {
		t.Fatalf("Pending(1) after remove = %+v", q)
	}
}

func TestSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := s.DeviceID()
	s.Enqueue([]herd.Event{ev("a", herd.CategoryWeb)})
	s.Put("k", []byte("v"))
	s.Close()
	s = MustOpen(t, dir)
	if again, _ := s.DeviceID(); again != id || len(id) != 32 {
		t.Fatalf("device id %q then %q", id, again)
	}
	if v, _ := s.Get("k"); string(v) != "v" {
		t.Fatalf("setting = %q", v)
	}
	if q, _ := s.Pending(0); len(q) != 1 || q[0].ID != "a" {
		t.Fatalf("outbox after reopen = %+v", q)
	}
	st, err := os.Stat(filepath.Join(dir, state.FileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, %v", st.Mode().Perm(), err)
	}
}

func TestSentLogKeepsTheLast(t *testing.T) {
	s := MustOpen(t, t.TempDir())
	for i := range 5 {
		if err := s.RecordSent(state.Sent{Time: time.Unix(int64(i), 0), Cloud: "c", Body: []byte(fmt.Sprintf(`{"n":%d}`, i))}, 3); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.LastSent()
	if err != nil || len(got) != 3 || string(got[0].Body) != `{"n":2}` || string(got[2].Body) != `{"n":4}` {
		t.Fatalf("LastSent = %+v, %v", got, err)
	}
}
