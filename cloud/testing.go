package cloud

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd/identity/pki"
	"github.com/herdsec/herd/jetstream"
)

// TestToken is the admin token of clouds made by MustOpenTest.
var TestToken = strings.Repeat("t", 40)

// MustOpenTest starts a real cloud on a temporary folder (embedded
// JetStream) served on 127.0.0.1, and stops it when the test ends.
func MustOpenTest(tb testing.TB) (*Cloud, *httptest.Server) {
	tb.Helper()
	dir := tb.TempDir()
	c, err := Open(context.Background(), Options{
		Data:        dir,
		JetStream:   jetstream.Config{MaxMemory: 64 << 20, MaxStore: 512 << 20},
		AdminToken:  TestToken,
		PositiveTTL: time.Hour,
		NegativeTTL: 15 * time.Minute,
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler)
	tb.Cleanup(func() {
		srv.Close()
		c.Close()
	})
	return c, srv
}

// MustOpenTLSTest starts a real cloud as herdd runs it: its own CA (in a
// temporary folder), served over TLS on 127.0.0.1, agent routes needing an
// enrolled device's certificate. It returns the cloud, the server and the CA.
func MustOpenTLSTest(tb testing.TB) (*Cloud, *httptest.Server, *pki.Authority) {
	tb.Helper()
	return MustOpenTLSTestWith(tb, nil)
}

// MustOpenTLSTestWith is MustOpenTLSTest with the options changed by
// adjust first (nil: none).
func MustOpenTLSTestWith(tb testing.TB, adjust func(*Options)) (*Cloud, *httptest.Server, *pki.Authority) {
	tb.Helper()
	dir := tb.TempDir()
	now := time.Now()
	ca, _, err := pki.LoadOrCreate(filepath.Join(dir, "tls"), now)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := ca.ServerCertificate(filepath.Join(dir, "tls"), []string{"127.0.0.1"}, now)
	if err != nil {
		tb.Fatal(err)
	}
	opts := Options{
		Data:           dir,
		JetStream:      jetstream.Config{MaxMemory: 64 << 20, MaxStore: 512 << 20},
		AdminToken:     TestToken,
		PositiveTTL:    time.Hour,
		NegativeTTL:    15 * time.Minute,
		CA:             ca,
		RequireDevices: true,
	}
	if adjust != nil {
		adjust(&opts)
	}
	c, err := Open(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(c.Handler)
	srv.TLS = ca.ServerConfig(cert)
	srv.StartTLS()
	tb.Cleanup(func() {
		srv.Close()
		c.Close()
	})
	return c, srv, ca
}
