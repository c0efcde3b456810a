package sample

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
)

// pe returns a PE image's first bytes with its header at lfanew, padded to n.
func pe(lfanew uint32, n int) []byte {
	b := make([]byte, n)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], lfanew)
	if int(lfanew)+4 <= n {
		copy(b[lfanew:], "PE\x00\x00")
	}
	return b
}

func be32(words ...uint32) []byte {
	var b []byte
	for _, w := range words {
		b = binary.BigEndian.AppendUint32(b, w)
	}
	return b
}

var classifyCases = []struct {
	name string
	data []byte
	typ  string
	ok   bool
}{
	{"elf", []byte("\x7fELF\x02\x01\x01\x00rest"), TypeELF, true},
	{"pe", pe(0x80, 0x200), TypePE, true},
	{"pe header past the first read", pe(headLen+100, headLen+200), TypePE, true},
	{"mz without pe header", pe(0x80, 0x200)[:0x80], "", false},
	{"mz pointing past its end", pe(0x1000, 0x200), "", false},
	{"mz pointing into the dos header", pe(0x10, 0x200), "", false},
	{"script", []byte("#!/bin/sh\necho hi\n"), TypeScript, true},
	{"macho 32", be32(0xfeedface, 7), TypeMachO, true},
	{"macho 64", be32(0xfeedfacf, 7), TypeMachO, true},
	{"macho 32 little-endian", be32(0xcefaedfe, 7), TypeMachO, true},
	{"macho 64 little-endian", be32(0xcffaedfe, 7), TypeMachO, true},
	{"universal", be32(0xcafebabe, 2), TypeMachO, true},
	{"java class", be32(0xcafebabe, 52), "", false},
	{"text", []byte("Dear Alice, the minutes of Tuesday's meeting."), "", false},
	{"pdf", []byte("%PDF-1.7\n"), "", false},
	{"empty", nil, "", false},
	{"one byte", []byte("#"), "", false},
}

func TestClassify(t *testing.T) {
	dir := t.TempDir()
	for _, c := range classifyCases {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if typ, ok := Classify(p); typ != c.typ || ok != c.ok {
			t.Errorf("%s: Classify = %q %v, want %q %v", c.name, typ, ok, c.typ, c.ok)
		}
		if typ, ok := ClassifyBytes(c.data); typ != c.typ || ok != c.ok {
			t.Errorf("%s: ClassifyBytes = %q %v, want %q %v", c.name, typ, ok, c.typ, c.ok)
		}
	}
	if typ, ok := Classify(dir); ok {
		t.Errorf("a folder classified as %q", typ)
	}
	if typ, ok := Classify(filepath.Join(dir, "missing")); ok {
		t.Errorf("a missing file classified as %q", typ)
	}
}

func FuzzClassifyBytes(f *testing.F) {
	for _, c := range classifyCases {
		f.Add(c.data)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, ok := ClassifyBytes(b)
		if ok != slices.Contains([]string{TypeELF, TypePE, TypeScript, TypeMachO}, typ) || (!ok && typ != "") {
			t.Fatalf("ClassifyBytes = %q %v", typ, ok)
		}
		if ok && !slices.Contains(httpapi.SampleFileTypes, typ) {
			t.Fatalf("type %q is not one the cloud takes", typ)
		}
		// Classify reads the same answer from a file.
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if typ2, ok2 := Classify(p); typ2 != typ || ok2 != ok {
			t.Fatalf("Classify = %q %v, ClassifyBytes = %q %v", typ2, ok2, typ, ok)
		}
	})
}

// countingListener counts the connections accepted and the bytes read
// from them, below TLS: everything a client sent.
type countingListener struct {
	net.Listener
	conns, bytes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.conns.Add(1)
	}
	return countingConn{Conn: c, n: l.bytes}, err
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// sampleServer is a TLS server that takes uploads as the cloud does
// (checks the hash) and counts what reaches it.
type sampleServer struct {
	client       *httpapi.Client
	conns, bytes atomic.Int64
	got          atomic.Pointer[[]byte]
}

func newSampleServer(t *testing.T) *sampleServer {
	t.Helper()
	s := &sampleServer{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, err := httpapi.DecodeSampleOffer(r.Header)
		b, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(b)
		if err != nil || r.URL.Path != "/v1/samples" || hex.EncodeToString(sum[:]) != o.SHA256 {
			http.Error(w, `{"error":{"code":"invalid","message":"bad upload"}}`, http.StatusBadRequest)
			return
		}
		s.got.Store(&b)
		_ = json.NewEncoder(w).Encode(httpapi.SampleReceipt{SHA256: o.SHA256, Stored: true, Devices: 1, Status: "queued"})
	}))
	srv.Listener = countingListener{Listener: srv.Listener, conns: &s.conns, bytes: &s.bytes}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := httpapi.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.HTTP = srv.Client()
	c.HTTP.Timeout = 10 * time.Second
	s.client = c
	return s
}

func record(t *testing.T, profile string) consent.Record {
	t.Helper()
	r, err := consent.FromProfile(profile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestOffer: without the suspicious category nothing reaches the server
// (not even a connection); a file over the cap and a file that is not an
// executable are not sent either; with consent the file's exact bytes are.
func TestOffer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSampleServer(t)
	dir := t.TempDir()
	exe := filepath.Join(dir, "dropper")
	data := append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 20000)...)
	if err := os.WriteFile(exe, data, 0o700); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte("\x7fELF"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxBytes+1); err != nil { // sparse: nothing written
		t.Fatal(err)
	}
	doc := filepath.Join(dir, "letter.txt")
	if err := os.WriteFile(doc, []byte("Dear Alice, the minutes of Tuesday's meeting."), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		what, path string
		rec        consent.Record
		code       string
	}{
		{"the suspicious category off", exe, record(t, consent.ProfileHomeMinimal), herd.ECONSENT},
		{"no consent at all", exe, consent.Record{}, herd.ECONSENT},
		{"a file over the cap", big, record(t, consent.ProfileFull), herd.ETOOLARGE},
		{"a document", doc, record(t, consent.ProfileFull), herd.EINVALID},
	} {
		_, err := Offer(ctx, s.client, c.path, c.rec)
		if herd.ErrorCode(err) != c.code {
			t.Fatalf("%s: err = %v, want %s", c.what, err, c.code)
		}
		if n, b := s.conns.Load(), s.bytes.Load(); n != 0 || b != 0 {
			t.Fatalf("%s: the server saw %d connections and %d bytes, want none", c.what, n, b)
		}
	}

	r, err := Offer(ctx, s.client, exe, record(t, consent.ProfileFull))
	sum := sha256.Sum256(data)
	if err != nil || r.SHA256 != hex.EncodeToString(sum[:]) || !r.Stored {
		t.Fatalf("offer with consent: %+v %v", r, err)
	}
	if got := s.got.Load(); got == nil || string(*got) != string(data) {
		t.Fatalf("the server did not receive the file's bytes")
	}
	if b := s.bytes.Load(); b < int64(len(data)) {
		t.Fatalf("the server saw %d bytes, less than the %d-byte file", b, len(data))
	}
}
