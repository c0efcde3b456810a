package cloud

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
