package cloud_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/jetstream"
)

// syncBuffer is a log destination safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A private lookup returns exactly the non-clean entries under the prefix,
// in answers of one size whatever their count, and the full hash of the
// file asked about is nowhere in the cloud afterwards: not in its log, not
// in its data folder.
func TestPrivateLookup(t *testing.T) {
	data := t.TempDir()
	logs := &syncBuffer{}
	c, err := cloud.Open(context.Background(), cloud.Options{
		Data:       data,
		JetStream:  jetstream.Config{MaxMemory: 64 << 20, MaxStore: 256 << 20},
		AdminToken: cloud.TestToken, PositiveTTL: time.Hour, NegativeTTL: 15 * time.Minute,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler)
	defer func() { srv.Close(); c.Close() }()
	ctx := context.Background()

	under := func(rest string) string { return "abcdef" + rest + strings.Repeat("0", 58-len(rest)) }
	mal1, mal2, clean := under("1"), under("2"), under("3")
	other := "fedcba" + strings.Repeat("1", 58)
	asked := under("9") // the file this device has: never stored, never sent whole
	admin, _ := httpapi.NewClient(srv.URL)
	admin.Token = cloud.TestToken
	_, err = admin.SetVerdicts(ctx, []httpapi.VerdictInput{
		{Kind: herd.KindSHA256, Value: mal1, Verdict: herd.VerdictMalicious, Threat: "Trojan.One"},
		{Kind: herd.KindSHA256, Value: mal2, Verdict: herd.VerdictSuspicious, Threat: "Maybe.Two"},
		{Kind: herd.KindSHA256, Value: clean, Verdict: herd.VerdictClean},
		{Kind: herd.KindSHA256, Value: other, Verdict: herd.VerdictMalicious, Threat: "Trojan.Other"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := admin.PrefixLookup(ctx, httpapi.PrefixRequest{Bits: 24, Prefixes: []httpapi.PrefixQuery{{Kind: herd.KindSHA256, Prefix: "abcdef"}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range resp.Results[0].Entries {
		got = append(got, e.Value+" "+string(e.Verdict)+" "+e.Threat)
	}
	if want := []string{mal1 + " malicious Trojan.One", mal2 + " suspicious Maybe.Two"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("entries under abcdef: %q, want %q", got, want)
	}
	// The answer's length does not tell the count.
	size := func(prefix string) int {
		body := `{"bits":24,"prefixes":[{"kind":"sha256","prefix":"` + prefix + `"}]}`
		r, err := http.Post(srv.URL+"/v1/lookup/prefix", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return len(b)
	}
	if a, b, z := size("abcdef"), size("fedcba"), size("000000"); a != b || b != z {
		t.Fatalf("answers of 2, 1 and 0 entries are %d, %d and %d bytes; want one size", a, b, z)
	}
	// Through the agent's private client: matched locally.
	priv := &httpapi.Private{Client: admin, Bits: 24}
	recs, err := priv.Lookup(ctx, []herd.Object{{Kind: herd.KindSHA256, Value: mal1}, {Kind: herd.KindSHA256, Value: asked}, {Kind: herd.KindURL, Value: "https://example.com/"}})
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].Verdict != herd.VerdictMalicious || recs[1].Verdict != herd.VerdictUnknown || recs[2].Verdict != herd.VerdictUnknown {
		t.Fatalf("private lookups: %+v", recs)
	}
	srv.Close()
	c.Close()
	if strings.Contains(logs.String(), asked) {
		t.Fatal("the full hash of a private lookup is in the cloud's log")
	}
	err = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(asked)) {
			t.Errorf("the full hash of a private lookup is in %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
