package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/hardware"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity"
	"github.com/herdsec/herd/identity/pki"
	"github.com/herdsec/herd/identity/vault"
	"github.com/herdsec/herd/internal/cli"
	"github.com/herdsec/herd/jetstream"
)

// TestMain lets the crash test run this test binary as a real herdd
// process: with HERDD_CHILD_ARGS set it is herdd.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv("HERDD_CHILD_ARGS"); ok {
		os.Args = append([]string{"herdd"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// MustRunHerdd starts herdd's Main on dir and a free loopback port.
func MustRunHerdd(tb testing.TB, dir, natsURL string) *Main {
	tb.Helper()
	m := NewMain()
	m.Getenv = func(string) string { return "" }
	m.Stderr = &bytes.Buffer{}
	args := []string{"--data", dir, "--listen", "127.0.0.1:0"}
	if natsURL != "" {
		args = append(args, "--nats", natsURL)
	}
	if err := m.ParseFlags(args); err != nil {
		tb.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// mustClient returns an API client of the herdd at url that trusts the CA
// in its data folder.
func mustClient(tb testing.TB, url, data string) *httpapi.Client {
	tb.Helper()
	c, err := cli.Client(url, filepath.Join(data, TLSDir, pki.CAFile), "", "")
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// mustCopy copies a file (mode kept), making its folder.
func mustCopy(tb testing.TB, from, to string) {
	tb.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	st, _ := os.Stat(from)
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, b, st.Mode().Perm()); err != nil {
		tb.Fatal(err)
	}
}

// mustLicenceKey creates a licence on m and returns its key.
func mustLicenceKey(tb testing.TB, m *Main, seats int) string {
	tb.Helper()
	return mustLicenceKeyAt(tb, m.URL(), m.Config.Data, seats)
}

// mustLicenceKeyAt creates a licence on the herdd at url with data folder
// data, and returns its key.
func mustLicenceKeyAt(tb testing.TB, url, data string, seats int) string {
	tb.Helper()
	c := mustClient(tb, url, data)
	tok, err := os.ReadFile(filepath.Join(data, TokenFile))
	if err != nil {
		tb.Fatal(err)
	}
	c.Token = strings.TrimSpace(string(tok))
	l, err := c.CreateLicence(context.Background(), httpapi.LicenceRequest{Seats: seats})
	if err != nil {
		tb.Fatal(err)
	}
	return l.Key
}

// mustDeviceClient enrolls a device (hardware id hw) with the herdd at url
// (data folder data) and returns a client presenting its certificate, and
// its device id.
func mustDeviceClient(tb testing.TB, url, data, hw string) (*httpapi.Client, string) {
	tb.Helper()
	key, csr, err := pki.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	res, err := mustClient(tb, url, data).Enroll(context.Background(), identity.EnrollRequest{
		LicenceKey: mustLicenceKeyAt(tb, url, data, 1), CSR: string(csr), Hardware: hardware.Of(hw),
	})
	if err != nil {
		tb.Fatal(err)
	}
	keyPEM, _ := pki.EncodeKey(key)
	pair, err := tls.X509KeyPair([]byte(res.Certificate), keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(data, TLSDir, pki.CAFile))
	if err != nil {
		tb.Fatal(err)
	}
	cfg, _ := pki.ClientConfig(caPEM, &pair)
	c, _ := httpapi.NewClient(url)
	c.UseTLS(cfg)
	return c, res.Device
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// MustBuildCLIs builds the real herd and herdctl binaries once per test run.
func MustBuildCLIs(tb testing.TB) (herdBin, herdctlBin string) {
	tb.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "herd-cli-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", binDir, "github.com/herdsec/herd/cmd/herd", "github.com/herdsec/herd/cmd/herdctl").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return filepath.Join(binDir, "herd"), filepath.Join(binDir, "herdctl")
}

// run runs a binary and returns its exit status and output.
func run(tb testing.TB, bin string, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), o.String(), e.String()
	}
	if err != nil {
		tb.Fatal(err)
	}
	return 0, o.String(), e.String()
}

func TestEndToEnd(t *testing.T) {
	herdBin, herdctlBin := MustBuildCLIs(t)
	for _, mode := range []string{"embedded", "external"} {
		t.Run(mode, func(t *testing.T) {
			var natsURL string
			if mode == "external" {
				natsURL = mustStartNATS(t)
			}
			dir := t.TempDir()
			m := MustRunHerdd(t, dir, natsURL)

			folder := t.TempDir()
			eicar := filepath.Join(folder, "eicar.com")
			clean := filepath.Join(folder, "sub", "report.txt")
			os.WriteFile(eicar, []byte(herd.EICAR), 0o644)
			os.MkdirAll(filepath.Dir(clean), 0o755)
			os.WriteFile(clean, []byte("quarterly report\n"), 0o644)
			os.WriteFile(filepath.Join(folder, "other.bin"), bytes.Repeat([]byte{7}, 300<<10), 0o644)
			sum := sha256.Sum256([]byte("quarterly report\n"))
			cleanHash := hex.EncodeToString(sum[:])

			caFile := filepath.Join(dir, TLSDir, pki.CAFile)
			state := t.TempDir()
			agent := []string{"--state", state}
			code, out, errOut := run(t, herdBin, "--cloud", m.URL(), "--ca", caFile, "--state", state, "scan", "--no-cache", folder)
			if !strings.Contains(errOut, "herd enroll") {
				t.Fatalf("scan before enrollment: exit %d\n%s%s\nwant the cloud's refusal, naming herd enroll", code, out, errOut)
			}
			code, out, errOut = run(t, herdBin, "--state", state, "enroll", "--cloud", m.URL(), "--license", mustLicenceKey(t, m, 1), "--ca-fingerprint", m.CA().Fingerprint())
			if code != 0 || !strings.Contains(out, "enrolled: device") {
				t.Fatalf("herd enroll: exit %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = run(t, herdBin, append(agent, "scan", "--no-cache", folder)...)
			if code != 1 || !strings.Contains(out, eicar+": EICAR-Test-File FOUND") || strings.Contains(out, clean) {
				t.Fatalf("first scan: exit %d\n%s%s", code, out, errOut)
			}
			if !strings.Contains(out, "Scanned files: 3") || strings.Contains(errOut, "unavailable") {
				t.Fatalf("first scan summary:\n%s%s", out, errOut)
			}

			token := filepath.Join(dir, TokenFile)
			code, out, errOut = run(t, herdctlBin, "--cloud", m.URL(), "--ca", caFile, "--token-file", token, "verdict", "set", "sha256:"+cleanHash, "malicious", "--name", "Herd.Test.E2E")
			if code != 0 {
				t.Fatalf("verdict set: exit %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = run(t, herdBin, append(agent, "scan", "--no-cache", "--json", folder)...)
			if code != 1 {
				t.Fatalf("second scan: exit %d\n%s%s", code, out, errOut)
			}
			found := map[string]scanLine{}
			for _, l := range decodeLines(t, out) {
				found[l.Path] = l
			}
			if got := found[clean]; got.Threat != "Herd.Test.E2E" || got.Where != "cloud" || got.Source != herd.SourceOperator {
				t.Fatalf("second scan did not report the new verdict: %+v\n%s", got, out)
			}
			if got := found[eicar]; got.Threat != herd.EICARThreat {
				t.Fatalf("second scan lost EICAR: %s", out)
			}

			client, device := mustDeviceClient(t, m.URL(), dir, "e2e machine")
			mustConsent(t, client, device)
			res, err := client.SendTelemetry(context.Background(), device, testEvents("e2e", 0, 5))
			if err != nil || res.Stored != 5 {
				t.Fatalf("telemetry: %+v, %v", res, err)
			}

			// Restart on the same data: the verdict and the telemetry are still there.
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			m2 := MustRunHerdd(t, dir, natsURL)
			code, out, errOut = run(t, herdctlBin, "--cloud", m2.URL(), "--data", dir, "--token-file", token, "verdict", "get", "sha256:"+cleanHash)
			if code != 0 || !strings.Contains(out, `"threat": "Herd.Test.E2E"`) || !strings.Contains(out, `"stored": true`) {
				t.Fatalf("verdict get after restart: exit %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = run(t, herdctlBin, "--cloud", m2.URL(), "--data", dir, "--token-file", token, "telemetry", "stats")
			var st herd.TelemetryStats
			if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Events != 5 {
				t.Fatalf("telemetry stats after restart: exit %d\n%s%s", code, out, errOut)
			}
			code, out, _ = run(t, herdBin, "--cloud", m2.URL(), "--state", state, "scan", "--no-cache", clean)
			if code != 1 || !strings.Contains(out, "Herd.Test.E2E FOUND (malicious, cloud, operator)") {
				t.Fatalf("scan after restart: exit %d\n%s", code, out)
			}
		})
	}
}

type scanLine struct {
	Type   string `json:"type"`
	Path   string `json:"path"`
	Threat string `json:"threat"`
	Where  string `json:"where"`
	Source string `json:"source"`
}

func decodeLines(t *testing.T, out string) []scanLine {
	t.Helper()
	var ls []scanLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l scanLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		ls = append(ls, l)
	}
	return ls
}

// testEvents makes n scan.finished events whose "files" field counts up
// from first, so each stored event can be told apart.
func testEvents(prefix string, first, n int) []herd.Event {
	evs := make([]herd.Event, n)
	for i := range evs {
		evs[i] = herd.Event{ID: fmt.Sprintf("%s-%d", prefix, i), Type: "scan.finished", Category: herd.CategoryOperation, Time: time.Now().UTC(),
			Payload: json.RawMessage(fmt.Sprintf(`{"files":%d,"duration_ms":5,"trigger":"manual"}`, first+i))}
	}
	return evs
}

// mustConsent sends a "full" consent record for the device.
func mustConsent(tb testing.TB, c *httpapi.Client, device string) {
	tb.Helper()
	rec, err := consent.FromProfile(consent.ProfileFull, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.SetConsent(context.Background(), device, rec); err != nil {
		tb.Fatal(err)
	}
}

func mustStartNATS(t *testing.T) string {
	t.Helper()
	// A standalone NATS server with JetStream, on loopback, reached by URL.
	db, err := jetstream.Open(context.Background(), jetstream.Config{Dir: t.TempDir(), MaxMemory: 64 << 20, MaxStore: 256 << 20, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.ClientURL()
}

var readyURL = regexp.MustCompile(`msg="herdd ready" url=(\S+)`)

// TestCrashSafety kills a real herdd process with SIGKILL while agents are
// sending telemetry, restarts it on the same data, and checks that every
// event whose batch was acknowledged is stored exactly once.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HERDD_CHILD_ARGS=--data "+dir+" --listen 127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	urlCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := readyURL.FindStringSubmatch(sc.Text()); m != nil {
				urlCh <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-urlCh:
	case <-time.After(30 * time.Second):
		t.Fatal("child herdd did not start")
	}

	client, device := mustDeviceClient(t, url, dir, "crash machine")
	client.HTTP.Timeout = 5 * time.Second
	mustConsent(t, client, device)
	var (
		mu      sync.Mutex
		acked   []int
		batches int
	)
	killAfter := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	deadline := time.Now().Add(30 * time.Second)
	for w := range 4 {
		wg.Go(func() {
			for b := 0; b < 500 && time.Now().Before(deadline); b++ { // bounded load
				first := (w*500 + b) * 50
				evs := testEvents(fmt.Sprintf("w%d-b%d", w, b), first, 50)
				res, err := client.SendTelemetry(context.Background(), device, evs)
				if err != nil {
					return // the server is gone
				}
				if res.Stored+res.Duplicates != 50 {
					t.Errorf("batch %d/%d: %+v", w, b, res)
					return
				}
				mu.Lock()
				for i := range evs {
					acked = append(acked, first+i)
				}
				batches++
				if batches == 40 {
					once.Do(func() { close(killAfter) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-killAfter:
	case <-time.After(30 * time.Second):
		t.Fatal("load did not reach 40 batches")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 40*50 {
		t.Fatalf("only %d events acknowledged", len(acked))
	}

	m := MustRunHerdd(t, dir, "")
	seen := map[int]int{}
	err = m.db.Telemetry().Each(context.Background(), func(e jetstream.Stored) error {
		var p struct {
			Files int `json:"files"`
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return err
		}
		seen[p.Files]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %d stored %d times", id, n)
		}
	}
	for _, id := range acked {
		if seen[id] != 1 {
			t.Fatalf("acknowledged event %d lost after kill -9 (%d of %d acknowledged events stored)", id, len(seen), len(acked))
		}
	}
	t.Logf("%d acknowledged events, %d stored after kill -9", len(acked), len(seen))
}

// TestReplicasShareVerdicts runs two herdd replicas on one NATS server: a
// verdict set through one reaches the other's index through the KV watch,
// and its change stream.
func TestReplicasShareVerdicts(t *testing.T) {
	url := mustStartNATS(t)
	a := MustRunHerdd(t, t.TempDir(), url)
	// Replicas of one cloud share its keys: the CA, the identity vault,
	// the pseudonym keys and the admin token.
	bData := t.TempDir()
	for _, f := range []string{filepath.Join(TLSDir, pki.CAFile), filepath.Join(TLSDir, pki.CAKeyFile), filepath.Join("identity", vault.File), filepath.Join("keys", "pseudonyms.json"), TokenFile} {
		mustCopy(t, filepath.Join(a.Config.Data, f), filepath.Join(bData, f))
	}
	b := MustRunHerdd(t, bData, url)
	if b.CA().Fingerprint() != a.CA().Fingerprint() {
		t.Fatal("replica b did not take the shared CA")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	cb, _ := mustDeviceClient(t, b.URL(), b.Config.Data, "replica machine")
	changes := make(chan herd.VerdictChange, 16)
	go cb.Stream(ctx, 0, func(c herd.VerdictChange) error {
		changes <- c
		return nil
	})
	select { // b's stream is live once its backlog is delivered
	case c := <-changes:
		if !c.CaughtUp {
			t.Fatalf("first event %+v, want caught-up on an empty store", c)
		}
	case <-ctx.Done():
		t.Fatal("no caught-up event from replica b")
	}

	obj := herd.Object{Kind: herd.KindDomain, Value: "phish.example"}
	tokenA, err := os.ReadFile(filepath.Join(a.Config.Data, TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	ca := mustClient(t, a.URL(), a.Config.Data)
	ca.Token = strings.TrimSpace(string(tokenA))
	if _, err := ca.SetVerdicts(ctx, []httpapi.VerdictInput{{Kind: obj.Kind, Value: obj.Value, Verdict: herd.VerdictMalicious, Threat: "Phish.Replica"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-changes:
		if c.Record.Object != obj || c.Record.Threat != "Phish.Replica" {
			t.Fatalf("replica b streamed %+v", c)
		}
	case <-ctx.Done():
		t.Fatal("replica b's stream did not deliver the change made through replica a")
	}
	// The stream and the index follow the same bucket; b's index has it too.
	for {
		recs, err := cb.Lookup(ctx, []herd.Object{obj})
		if err != nil {
			t.Fatal(err)
		}
		if recs[0].Verdict == herd.VerdictMalicious && recs[0].Threat == "Phish.Replica" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("replica b still answers %+v", recs[0])
		case <-time.After(10 * time.Millisecond):
		}
	}
}
