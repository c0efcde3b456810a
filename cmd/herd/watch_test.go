package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/apps"
	"github.com/herdsec/herd/agent/quarantine"
)

// syncBuffer is a buffer safe to read while the agent writes to it.
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

// TestWatchQuarantinesThenRestore runs herd watch on a folder, writes the
// EICAR test file into it from another process, and checks the alert, the
// quarantine list, and a restore.
func TestWatchQuarantinesThenRestore(t *testing.T) {
	stateDir, watched := t.TempDir(), t.TempDir()
	if r := run(t, nil, "--cloud", "http://127.0.0.1:1", "--state", stateDir, "consent", "set", "full"); r.code != ExitClean {
		t.Fatalf("consent:\n%v", r)
	}
	var out, errb syncBuffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, IsTerminal: func(io.Writer) bool { return false }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- m.Run(ctx, []string{"--state", stateDir, "watch", "--no-cloud", "--no-rules", "--log-json", "--path", watched})
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != ExitClean {
				t.Errorf("herd watch exit %d\n%s", code, errb.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("herd watch did not stop")
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(errb.String(), "herd watch started") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the watcher is set up after the start message
	bad := filepath.Join(watched, "eicar.com")
	if o, err := exec.Command("/bin/sh", "-c", `printf '%s' "$2" > "$1"`, "sh", bad, herd.EICAR).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, o)
	}
	var alert struct {
		Kind, Path, Threat, Action string
	}
	for time.Now().Before(deadline) && alert.Action == "" {
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(line, "{") {
				_ = json.Unmarshal([]byte(line), &alert)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if alert.Action != "quarantined" || alert.Threat != herd.EICARThreat || alert.Path != bad {
		t.Fatalf("alert %+v\nstdout:\n%s\nstderr:\n%s", alert, out.String(), errb.String())
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatalf("file still there: %v", err)
	}
	r := run(t, nil, "--state", stateDir, "quarantine", "list", "--json")
	var items []quarantine.Item
	if err := json.Unmarshal([]byte(r.stdout), &items); err != nil || len(items) != 1 || items[0].Path != bad {
		t.Fatalf("quarantine list: %v\n%v", err, r)
	}
	if r := run(t, nil, "--state", stateDir, "quarantine", "restore", "nonsense"); r.code != ExitError || !strings.Contains(r.stderr, "not an id") {
		t.Fatalf("restore of a bad id:\n%v", r)
	}
	if r := run(t, nil, "--state", stateDir, "quarantine", "restore", items[0].ID); r.code != ExitClean {
		t.Fatalf("restore:\n%v", r)
	}
	if b, err := os.ReadFile(bad); err != nil || string(b) != herd.EICAR {
		t.Fatalf("restored %q, %v", b, err)
	}
	if r := run(t, nil, "--state", stateDir, "quarantine", "list"); !strings.Contains(r.stdout, "0 files in quarantine") {
		t.Fatalf("list after restore:\n%v", r)
	}
}

// TestNewAppsReportedOnce: the daily inventory reports an application the
// first time only.
func TestNewAppsReportedOnce(t *testing.T) {
	root := t.TempDir()
	status := "Package: hello\nStatus: install ok installed\nVersion: 2.10-3\nMaintainer: Jane Doe <jane@example.org>\nArchitecture: amd64\n\n"
	if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte(status), 0o644)
	stateDir := t.TempDir()
	opts := apps.Options{Root: root, Run: noTools{}}
	ctx := context.Background()
	// Consent leaves applications off: nothing is listed or remembered.
	if r := run(t, nil, "--cloud", "http://127.0.0.1:1", "--state", stateDir, "consent", "set", "home-minimal"); r.code != ExitClean {
		t.Fatalf("consent:\n%v", r)
	}
	if q, err := newApps(ctx, stateDir, opts); err != nil || len(q) != 0 {
		t.Fatalf("with apps off: %+v, %v", q, err)
	}
	if r := run(t, nil, "--cloud", "http://127.0.0.1:1", "--state", stateDir, "consent", "set", "apps", "on"); r.code != ExitClean {
		t.Fatalf("consent:\n%v", r)
	}
	q, err := newApps(ctx, stateDir, opts)
	if err != nil || len(q) != 1 || q[0]["name"] != "hello" || q[0]["publisher"] != "Jane Doe" {
		t.Fatalf("first inventory: %+v, %v", q, err)
	}
	if q, err := newApps(ctx, stateDir, opts); err != nil || len(q) != 0 {
		t.Fatalf("second inventory reported again: %+v, %v", q, err)
	}
	status = strings.Replace(status, "2.10-3", "2.10-4", 1)
	os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte(status), 0o644)
	if q, err := newApps(ctx, stateDir, opts); err != nil || len(q) != 1 || q[0]["version"] != "2.10-4" {
		t.Fatalf("after an upgrade: %+v, %v", q, err)
	}
	r := run(t, nil, "--state", stateDir, "privacy", "last")
	if strings.Count(r.stdout, `"type":"app.installed"`) != 2 {
		t.Fatalf("outbox does not hold both app.installed events:\n%v", r)
	}
}

// noTools is a system without rpm, flatpak or snap.
type noTools struct{}

func (noTools) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return nil, apps.ErrNoTool
}
