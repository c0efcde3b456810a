package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd/agent/daemon"
	"github.com/herdsec/herd/agent/hardware"
	"github.com/herdsec/herd/agent/state"
	"github.com/herdsec/herd/agent/wifi"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity/pki"
)

// recordedNmcli answers nmcli with the output recorded in one of agent/wifi's
// scenarios; it runs nothing else.
type recordedNmcli string

func (dir recordedNmcli) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	if name != "nmcli" {
		return nil, fmt.Errorf("unexpected command %s %s", name, strings.Join(args, " "))
	}
	return os.ReadFile(filepath.Join("..", "..", "agent", "wifi", "testdata", string(dir), "nmcli.txt"))
}

// The connected access point of the "open" scenario.
const (
	openSSID  = "CafeFree"
	openBSSID = "6c:5a:b0:12:34:56"
)

// enrolledClient enrolls a new agent state, as machine hw, with "herd
// enroll" and returns the client "herd watch" would use with it.
func enrolledClient(t *testing.T, srvURL string, ca *pki.Authority, licence, hw string) (string, *httpapi.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	env := map[string]string{"HERD_STATE": dir}
	var out, errb bytes.Buffer
	m := &Main{
		Stdout: &out, Stderr: &errb,
		Getenv:     func(k string) string { return env[k] },
		IsTerminal: func(io.Writer) bool { return false },
		Hardware:   func() (string, error) { return hardware.Of(hw), nil },
	}
	if code := m.Run(ctx, []string{"enroll", "--cloud", srvURL, "--license", licence, "--ca-fingerprint", ca.Fingerprint()}); code != ExitClean {
		t.Fatalf("enroll: exit %d\n%s%s", code, out.String(), errb.String())
	}
	g := globals{state: dir}
	c, err := m.client(g, m.cloudURL(g, ""))
	if err != nil {
		t.Fatal(err)
	}
	c.HTTP.Timeout = 10 * time.Second
	return dir, c
}

// unreachableClient is a client of a cloud address where nothing listens.
func unreachableClient(t *testing.T) *httpapi.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := httpapi.NewClient("https://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	c.HTTP.Timeout = 10 * time.Second
	return c
}

// checkWiFiLogged runs checkWiFi on the "open" scenario, logging into log.
func checkWiFiLogged(t *testing.T, dir string, keys wifiKeySource, now time.Time, log *bytes.Buffer) ([]daemon.Report, []daemon.Alert) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reps, alerts, err := checkWiFi(ctx, dir, recordedNmcli("open"), keys, now, slog.New(slog.NewTextHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Kind != "wifi" || !strings.Contains(alerts[0].Threat, openSSID) {
		t.Fatalf("alerts %+v: want one warning about the open network %s", alerts, openSSID)
	}
	return reps, alerts
}

// seenBSSID returns the bssid of the one wifi.seen report, checking that
// no form of the access point's address is in it.
func seenBSSID(t *testing.T, reps []daemon.Report) string {
	t.Helper()
	if len(reps) != 1 || reps[0].Type != wifi.EventType {
		t.Fatalf("reports %+v: want one %s", reps, wifi.EventType)
	}
	b, _ := json.Marshal(reps[0].Fields)
	hex := strings.ReplaceAll(openBSSID, ":", "")
	for _, s := range []string{openBSSID, strings.ToUpper(openBSSID), hex, strings.ToUpper(hex), `6C\\:5A`} {
		if bytes.Contains(b, []byte(s)) {
			t.Fatalf("the report %s holds the access point's address (%s)", b, s)
		}
	}
	p, _ := reps[0].Fields["bssid"].(string)
	return p
}

func heldKey(t *testing.T, dir string) heldWiFiKey {
	t.Helper()
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := st.Get(keyWiFiKey)
	if err != nil {
		t.Fatal(err)
	}
	var h heldWiFiKey
	if b != nil {
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatalf("state %s = %s: %v", keyWiFiKey, b, err)
		}
	}
	return h
}

// TestWiFiKeyFromCloud: an enrolled agent fetches the region's key from a
// real cloud, keeps it, and reports the open network it is connected to
// with the access point's pseudonym under that key, which another device
// of the cloud computes alike; with the cloud unreachable and no key held,
// the warning is raised and nothing is reported.
func TestWiFiKeyFromCloud(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, ca, _, licKey := MustStartTLSCloud(t, 2)
	dirA, clientA := enrolledClient(t, srv.URL, ca, licKey, "machine-wifi-a")
	dirB, clientB := enrolledClient(t, srv.URL, ca, licKey, "machine-wifi-b")

	// The key as the cloud hands it to a device.
	k, err := clientB.WiFiKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := wifi.Pseudonym(k.Key, openBSSID)
	if err != nil {
		t.Fatal(err)
	}

	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var log bytes.Buffer
	if h := heldKey(t, dirA); h.Version != 0 {
		t.Fatalf("a new state holds key version %d", h.Version)
	}
	reps, _ := checkWiFiLogged(t, dirA, clientA, now, &log)
	if len(reps) != 1 {
		t.Fatalf("first check: %d reports; log:\n%s", len(reps), log.String())
	}
	if got := seenBSSID(t, reps); got != want {
		t.Fatalf("bssid %q, want the pseudonym under the cloud's key %q", got, want)
	}
	if sec := reps[0].Fields["security"]; sec != string(wifi.Open) {
		t.Fatalf("security %v, want open", sec)
	}
	if h := heldKey(t, dirA); h.Version != k.Version || !bytes.Equal(h.Key, k.Key) || !h.Checked.Equal(now) {
		t.Fatalf("the state holds version %d checked %v; want version %d checked %v, the cloud's key", h.Version, h.Checked, k.Version, now)
	}

	// Another device sees the same access point as the same pseudonym.
	reps, _ = checkWiFiLogged(t, dirB, clientB, now, &log)
	if got := seenBSSID(t, reps); got != want {
		t.Fatalf("second device: bssid %q, want %q", got, want)
	}

	// The cloud unreachable: a state without a key warns and reports
	// nothing; one holding the key goes on with it.
	down := unreachableClient(t)
	dirC := t.TempDir()
	log.Reset()
	reps, _ = checkWiFiLogged(t, dirC, down, now, &log)
	if len(reps) != 0 {
		t.Fatalf("without a key: reports %+v, want none", reps)
	}
	if !strings.Contains(log.String(), "the region's key could not be fetched") || !strings.Contains(log.String(), "unreachable") {
		t.Fatalf("log does not say the key could not be fetched:\n%s", log.String())
	}
	if h := heldKey(t, dirC); h.Version != 0 || len(h.Key) != 0 {
		t.Fatalf("a failed fetch stored version %d", h.Version)
	}
	reps, _ = checkWiFiLogged(t, dirA, down, now.Add(2*wifiKeyRecheck), &log)
	if got := seenBSSID(t, reps); got != want {
		t.Fatalf("held key, cloud down: bssid %q, want %q", got, want)
	}

	// No cloud at all (herd watch --no-cloud): warnings only.
	reps, _ = checkWiFiLogged(t, t.TempDir(), nil, now, &log)
	if len(reps) != 0 {
		t.Fatalf("no cloud: reports %+v, want none", reps)
	}
}

// keyVersions hands out the key of the version it is set to, counting the
// calls: the cloud's key rotation, which the real cloud does only on an
// upgrade.
type keyVersions struct {
	keys  map[uint64][]byte
	now   uint64
	calls int
}

func (v *keyVersions) WiFiKey(context.Context) (httpapi.WiFiKey, error) {
	v.calls++
	return httpapi.WiFiKey{Version: v.now, Key: v.keys[v.now]}, nil
}

// TestWiFiKeyReplacedByNewerVersion: a held key is used without asking
// the cloud until the daily check; the check takes a higher version and
// never goes back to a lower one.
func TestWiFiKeyReplacedByNewerVersion(t *testing.T) {
	src := &keyVersions{keys: map[uint64][]byte{
		1: bytes.Repeat([]byte{1}, 32),
		2: bytes.Repeat([]byte{2}, 32),
	}, now: 1}
	pseudonym := func(v uint64) string {
		p, err := wifi.Pseudonym(src.keys[v], openBSSID)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	dir := t.TempDir()
	var log bytes.Buffer
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

	if got := seenBSSID(t, must(checkWiFiLogged(t, dir, src, t0, &log))); got != pseudonym(1) || src.calls != 1 {
		t.Fatalf("first check: %q after %d calls, want version 1's pseudonym after 1", got, src.calls)
	}
	src.now = 2
	if got := seenBSSID(t, must(checkWiFiLogged(t, dir, src, t0.Add(time.Hour), &log))); got != pseudonym(1) || src.calls != 1 {
		t.Fatalf("an hour later: %q after %d calls, want the held version 1 without asking", got, src.calls)
	}
	if got := seenBSSID(t, must(checkWiFiLogged(t, dir, src, t0.Add(wifiKeyRecheck), &log))); got != pseudonym(2) || src.calls != 2 {
		t.Fatalf("a day later: %q after %d calls, want version 2's pseudonym after 2", got, src.calls)
	}
	if h := heldKey(t, dir); h.Version != 2 || !bytes.Equal(h.Key, src.keys[2]) {
		t.Fatalf("the state holds version %d, want 2", h.Version)
	}
	src.now = 1
	if got := seenBSSID(t, must(checkWiFiLogged(t, dir, src, t0.Add(3*wifiKeyRecheck), &log))); got != pseudonym(2) || src.calls != 3 {
		t.Fatalf("an older version offered: %q after %d calls, want version 2 kept", got, src.calls)
	}

	// A damaged setting is fetched again.
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(keyWiFiKey, []byte(`{"version":7,"key":"c2hvcnQ="}`)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if got := seenBSSID(t, must(checkWiFiLogged(t, dir, src, t0.Add(3*wifiKeyRecheck), &log))); got != pseudonym(1) || src.calls != 4 {
		t.Fatalf("damaged setting: %q after %d calls, want version 1 fetched again", got, src.calls)
	}
}

func must(reps []daemon.Report, _ []daemon.Alert) []daemon.Report { return reps }

// MustStartTLSCloud starts a real cloud as herdd runs it (its own CA, TLS,
// enrolled devices only on agent routes) and creates a licence of seats
// seats; it returns the server, the CA, an operator's client and the
// licence key.
func MustStartTLSCloud(t *testing.T, seats int) (*httptest.Server, *pki.Authority, *httpapi.Client, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, srv, ca := cloud.MustOpenTLSTest(t)
	admin, err := httpapi.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ClientConfig(ca.CertPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin.UseTLS(cfg)
	admin.Token = cloud.TestToken
	lic, err := admin.CreateLicence(ctx, httpapi.LicenceRequest{Seats: seats})
	if err != nil {
		t.Fatal(err)
	}
	return srv, ca, admin, lic.Key
}
