package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/herdsec/herd"
)

func TestDecodeWiFiKey(t *testing.T) {
	key32 := bytes.Repeat([]byte{0x5a}, 32)
	good, _ := json.Marshal(WiFiKey{Version: 3, Key: key32})
	k, err := DecodeWiFiKey(bytes.NewReader(good))
	if err != nil || k.Version != 3 || !bytes.Equal(k.Key, key32) {
		t.Fatalf("DecodeWiFiKey(%s) = %d %x, %v", good, k.Version, k.Key, err)
	}
	long, _ := json.Marshal(WiFiKey{Version: 1, Key: make([]byte, MaxWiFiKeySize+1)})
	short, _ := json.Marshal(WiFiKey{Version: 1, Key: make([]byte, 31)})
	for _, c := range []struct{ in, want string }{
		{"", "body: "},
		{`{"version":1}`, "wifi key: key: 0 bytes, want 32 to 64"},
		{string(short), "wifi key: key: 31 bytes, want 32 to 64"},
		{string(long), "wifi key: key: 65 bytes, want 32 to 64"},
		{`{"version":0,"key":"` + strings.Repeat("A", 44) + `"}`, "wifi key: version: must be at least 1"},
		{`{"version":-1,"key":"` + strings.Repeat("A", 44) + `"}`, "version"},
		{`{"version":1,"key":"not base64!"}`, "body: "},
		{`{"version":1,"key":"` + strings.Repeat("A", 44) + `","extra":1}`, "extra"},
		{`{"version":1,"key":"` + strings.Repeat("A", 44) + `"} {}`, "data after the JSON value"},
		{`{"version":1,"key":"` + strings.Repeat("A", 2000) + `"}`, "more than 1024 bytes"},
	} {
		_, err := DecodeWiFiKey(strings.NewReader(c.in))
		if herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DecodeWiFiKey(%.60q) = %v, want invalid, mentioning %q", c.in, err, c.want)
		}
	}
}

// staticWiFiKeys answers with one key, whatever it is.
type staticWiFiKeys struct{ k WiFiKey }

func (s staticWiFiKeys) WiFiKey(context.Context) (WiFiKey, error) { return s.k, nil }

// TestWiFiKeyOnlyForDevices: a server that authenticates no device
// certificates (plain HTTP) hands the key to nobody, and a service
// holding a bad key is refused rather than served.
func TestWiFiKeyOnlyForDevices(t *testing.T) {
	ctx := context.Background()
	s := &Server{WiFiKeys: staticWiFiKeys{WiFiKey{Version: 1, Key: bytes.Repeat([]byte{1}, 32)}}, AdminToken: strings.Repeat("a", 40)}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	c, err := NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WiFiKey(ctx); herd.ErrorCode(err) != herd.EUNAUTHORIZED || !strings.Contains(err.Error(), "enrolled devices only") {
		t.Fatalf("without a device: %v, want unauthorized", err)
	}
	c.Token = s.AdminToken
	if _, err := c.WiFiKey(ctx); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Fatalf("with the admin token: %v, want unauthorized", err)
	}

	// Past the device check, a key too short to be safe is not served.
	bad := &Server{WiFiKeys: staticWiFiKeys{WiFiKey{Version: 1, Key: []byte("short")}}}
	bad.Handler()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/v1/keys/wifi", nil)
	bad.handleWiFiKey(rec, req.WithContext(context.WithValue(req.Context(), deviceKey{}, "dev-1")))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "c2hvcnQ") {
		t.Fatalf("bad key: %d %s", rec.Code, rec.Body)
	}
	good := &Server{WiFiKeys: staticWiFiKeys{WiFiKey{Version: 2, Key: bytes.Repeat([]byte{7}, 32)}}}
	good.Handler()
	rec = httptest.NewRecorder()
	good.handleWiFiKey(rec, req.WithContext(context.WithValue(req.Context(), deviceKey{}, "dev-1")))
	k, err := DecodeWiFiKey(rec.Body)
	if rec.Code != 200 || err != nil || k.Version != 2 || !bytes.Equal(k.Key, bytes.Repeat([]byte{7}, 32)) || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("device: %d %v %+v, Cache-Control %q", rec.Code, err, k, rec.Header().Get("Cache-Control"))
	}
}

func FuzzDecodeWiFiKey(f *testing.F) {
	f.Add([]byte(`{"version":1,"key":"` + strings.Repeat("A", 44) + `"}`))
	f.Add([]byte(`{"version":18446744073709551615,"key":"` + strings.Repeat("/", 88) + `"}`))
	f.Add([]byte(`{"version":1,"key":null}`))
	f.Add([]byte(`{"key":"AAAA","version":1.5}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := DecodeWiFiKey(bytes.NewReader(b))
		if err != nil {
			if herd.ErrorCode(err) != herd.EINVALID {
				t.Fatalf("error %v: code %q, want invalid", err, herd.ErrorCode(err))
			}
			return
		}
		if k.Check() != nil {
			t.Fatalf("accepted a key that fails Check: %+v", k)
		}
		again, _ := json.Marshal(k)
		k2, err := DecodeWiFiKey(bytes.NewReader(again))
		if err != nil || k2.Version != k.Version || !bytes.Equal(k2.Key, k.Key) {
			t.Fatalf("%s does not round-trip: %v", again, err)
		}
	})
}
