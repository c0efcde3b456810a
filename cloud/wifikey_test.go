package cloud

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity/vault"
)

// TestWiFiKeyForEnrolledDevices: two enrolled devices of one cloud get the
// same key and version, never to be cached; without a device certificate
// (the admin token does not count) and with a revoked one, no key.
func TestWiFiKeyForEnrolledDevices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, srv, ca := MustOpenTLSTest(t)
	admin := adminClient(t, srv.URL, ca)
	lic := mustLicence(ctx, t, admin, 2, "", "")
	devA, err := enroll(ctx, t, srv.URL, ca, lic.Key, "machine-wifi-a")
	if err != nil {
		t.Fatal(err)
	}
	devB, err := enroll(ctx, t, srv.URL, ca, lic.Key, "machine-wifi-b")
	if err != nil {
		t.Fatal(err)
	}
	if devA.Device == devB.Device {
		t.Fatalf("two machines enrolled as one device %s", devA.Device)
	}
	agentA := tlsClient(t, srv.URL, ca, &devA.pair)
	agentB := tlsClient(t, srv.URL, ca, &devB.pair)

	a, err := agentA.WiFiKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := agentB.WiFiKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != WiFiKeyVersion || len(a.Key) != 32 {
		t.Fatalf("key: version %d, %d bytes; want version %d, 32 bytes", a.Version, len(a.Key), WiFiKeyVersion)
	}
	if b.Version != a.Version || !bytes.Equal(a.Key, b.Key) {
		t.Fatalf("two devices of one cloud got different keys: %d %x, %d %x", a.Version, a.Key, b.Version, b.Key)
	}
	if bytes.Equal(a.Key, make([]byte, len(a.Key))) {
		t.Fatal("the key is all zero")
	}

	res, err := agentA.HTTP.Get(srv.URL + "/v1/keys/wifi")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /v1/keys/wifi: %s, Cache-Control %q; want 200, no-store", res.Status, res.Header.Get("Cache-Control"))
	}

	if _, err := tlsClient(t, srv.URL, ca, nil).WiFiKey(ctx); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Fatalf("without a device certificate: %v, want unauthorized", err)
	}
	if _, err := admin.WiFiKey(ctx); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Fatalf("with the admin token: %v, want unauthorized", err)
	}
	if _, err := admin.RevokeDevice(ctx, devB.Device); err != nil {
		t.Fatal(err)
	}
	if _, err := agentB.WiFiKey(ctx); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Fatalf("revoked device: %v, want unauthorized", err)
	}
	if again, err := agentA.WiFiKey(ctx); err != nil || !bytes.Equal(again.Key, a.Key) {
		t.Fatalf("the other device after a revocation: %v, same key %v", err, bytes.Equal(again.Key, a.Key))
	}
}

// TestWiFiKeyNotOverPlainHTTP: a cloud that authenticates no device (plain
// HTTP, for development) hands the key to nobody.
func TestWiFiKeyNotOverPlainHTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, srv := MustOpenTest(t)
	c, err := httpapi.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WiFiKey(ctx); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Fatalf("plain HTTP: %v, want unauthorized", err)
	}
	c.Token = TestToken
	if _, err := c.WiFiKey(ctx); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Fatalf("plain HTTP with the admin token: %v, want unauthorized", err)
	}
}

// TestWiFiKeyDerivation: replicas sharing the identity vault derive the
// same key; another vault or another version gives another key; a caller
// changing its copy changes nobody else's.
func TestWiFiKeyDerivation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	derive := func(dir string, version uint64) httpapi.WiFiKey {
		t.Helper()
		v, err := vault.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		w, err := newWiFiKeys(v, version)
		if err != nil {
			t.Fatal(err)
		}
		k, err := w.WiFiKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	first := derive(dir, 1)
	if first.Version != 1 || len(first.Key) != 32 {
		t.Fatalf("key: version %d, %d bytes", first.Version, len(first.Key))
	}
	if again := derive(dir, 1); !bytes.Equal(again.Key, first.Key) {
		t.Fatalf("the same vault derived %x, then %x", first.Key, again.Key)
	}
	if next := derive(dir, 2); next.Version != 2 || bytes.Equal(next.Key, first.Key) {
		t.Fatalf("version 2: version %d, same key as version 1: %v", next.Version, bytes.Equal(next.Key, first.Key))
	}
	if other := derive(t.TempDir(), 1); bytes.Equal(other.Key, first.Key) {
		t.Fatal("two vaults derived the same key")
	}

	v, err := vault.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWiFiKeys(v, 1)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := w.WiFiKey(ctx)
	k.Key[0] ^= 0xff
	if k2, _ := w.WiFiKey(ctx); !bytes.Equal(k2.Key, first.Key) {
		t.Fatal("changing a returned key changed the service's")
	}
}
