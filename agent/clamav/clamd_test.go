package clamav_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/clamav"
)

// testFilesDir is where Debian's clamav-testfiles puts the ClamAV test
// program (clam.exe) and the same program inside many containers.
const testFilesDir = "/usr/share/clamav-testfiles"

// Signatures of the test database. clamd adds ".UNOFFICIAL" to the names
// of signatures that do not come from ClamAV's own databases.
const (
	clamExeMD5 = "aa15bcf478d165efd2065190eb473bcb" // clam.exe, 544 bytes
	testThreat = "Herd.Test.ClamAVTestFile.UNOFFICIAL"
	eicarName  = "Herd.Test.EICAR.UNOFFICIAL"
)

// clamdStreamMax is the StreamMaxLength of the test daemons.
const clamdStreamMax = 4 << 20 // above the largest test file (1.7 MB)

// Clamd is a clamd process of a test, with its own configuration and
// database in a temporary folder.
type Clamd struct {
	Socket string // unix socket path
	TCP    string // 127.0.0.1:port
	Log    string // log file
}

// requireClamd skips the test when clamd is not installed, except in CI
// (CI set), which must install it.
func requireClamd(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("clamd")
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
			if _, serr := os.Stat(filepath.Join(dir, "clamd")); serr == nil {
				return filepath.Join(dir, "clamd")
			}
		}
		if os.Getenv("CI") != "" {
			tb.Fatalf("clamd not installed (CI must install clamav-daemon): %v", err)
		}
		tb.Skipf("clamd not installed (apt-get install clamav-daemon clamav-testfiles): %v", err)
	}
	return path
}

// MustStartClamd starts a clamd of its own (not the system's service) whose
// database holds two hash signatures: the ClamAV test program and EICAR.
// freshclam is not needed. The daemon is stopped when the test ends.
func MustStartClamd(tb testing.TB) *Clamd {
	tb.Helper()
	bin := requireClamd(tb)
	dir := tb.TempDir()
	for _, d := range []string{"db", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	db := fmt.Sprintf("%s:544:Herd.Test.ClamAVTestFile\n%s:%d:Herd.Test.EICAR\n", clamExeMD5, herd.EICARMD5, len(herd.EICAR))
	if err := os.WriteFile(filepath.Join(dir, "db", "herd-test.hdb"), []byte(db), 0o600); err != nil {
		tb.Fatal(err)
	}
	// A free port for the TCP socket: taken from the kernel, then freed for
	// clamd to bind.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	c := &Clamd{
		Socket: filepath.Join(dir, "clamd.sock"),
		TCP:    fmt.Sprintf("127.0.0.1:%d", port),
		Log:    filepath.Join(dir, "clamd.log"),
	}
	conf := strings.Join([]string{
		"Foreground yes",
		"LocalSocket " + c.Socket,
		"TCPSocket " + fmt.Sprint(port),
		"TCPAddr 127.0.0.1",
		"DatabaseDirectory " + filepath.Join(dir, "db"),
		"TemporaryDirectory " + filepath.Join(dir, "tmp"),
		"LogFile " + c.Log,
		"PidFile " + filepath.Join(dir, "clamd.pid"),
		"MaxThreads 4",
		fmt.Sprintf("StreamMaxLength %d", clamdStreamMax),
		"SelfCheck 0",
		"",
	}, "\n")
	confPath := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "--config-file="+confPath)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	client, err := clamav.New(c.Socket, clamav.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	// Wait until clamd has loaded its database and answers, for at most a
	// minute (clamd loads two signatures in well under a second).
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		select {
		case err := <-exited:
			exited <- err
			tb.Fatalf("clamd exited: %v\n%s", err, out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := client.Ping(ctx)
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) || i > 600 {
			tb.Fatalf("clamd does not answer: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
