package clamav_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/clamav"
)

// supported lists the files of clamav-testfiles in which clamd must find
// the test program: clam.exe itself and every container, packer and
// encoding that we claim to support through clamd. A file listed here that
// clamd does not flag fails the test.
var supported = []string{
	"clam.exe",
	// packed executables (clamd unpacks them)
	"clam-aspack.exe", "clam-fsg.exe", "clam-mew.exe", "clam-nsis.exe",
	"clam-pespin.exe", "clam-petite.exe", "clam-upack.exe", "clam-upx.exe",
	"clam-wwpack.exe", "clam-yc.exe", "clam.ea05.exe", "clam.ea06.exe",
	// installers
	"clam_IScab_ext.exe", "clam_IScab_int.exe", "clam_ISmsi_ext.exe", "clam_ISmsi_int.exe",
	// archives and compressors
	"clam.7z", "clam.arj", "clam.bin-be.cpio", "clam.bin-le.cpio", "clam.newc.cpio",
	"clam.odc.cpio", "clam.bz2.zip", "clam.cab", "clam.chm", "clam.d64.zip",
	"clam.exe.bz2", "clam.exe.szdd", "clam.impl.zip", "clam.sis", "clam.tar.gz",
	"clam.zip", "clam_cache_emax.tgz",
	// documents
	"clam.ole.doc", "clam.ppt", "clam.pdf", "clam.exe.rtf", "clam.exe.html",
	// mail and encodings
	"clam.exe.binhex", "clam.exe.mbox.base64", "clam.exe.mbox.uu", "clam.mail", "clam.tnef",
}

func mustNew(tb testing.TB, addr string, opt clamav.Options) *clamav.Client {
	tb.Helper()
	c, err := clamav.New(addr, opt)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestTestFiles scans every file of clamav-testfiles through INSTREAM.
func TestTestFiles(t *testing.T) {
	d := MustStartClamd(t)
	c := mustNew(t, "unix://"+d.Socket, clamav.Options{StreamMaxLength: clamdStreamMax})
	entries, err := os.ReadDir(testFilesDir)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("clamav-testfiles not installed: %v", err)
		}
		t.Skipf("clamav-testfiles not installed: %v", err)
	}
	var found, total int
	var missed []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		total++
		threat, err := scanFile(c, filepath.Join(testFilesDir, e.Name()))
		switch {
		case err != nil:
			t.Errorf("%s: %v", e.Name(), err)
			missed = append(missed, e.Name()+" (error)")
		case threat == testThreat:
			found++
		case threat == "":
			missed = append(missed, e.Name()+" (not found)")
			if slices.Contains(supported, e.Name()) {
				t.Errorf("%s: test program not found; it is in the supported list", e.Name())
			}
		default:
			t.Errorf("%s: threat %q, want %q", e.Name(), threat, testThreat)
		}
	}
	for _, name := range supported {
		if _, err := os.Stat(filepath.Join(testFilesDir, name)); err != nil {
			t.Errorf("supported file %s: %v", name, err)
		}
	}
	t.Logf("clamd found the test program in %d of %d files of %s; missed: %v", found, total, testFilesDir, missed)
	if found < len(supported) {
		t.Errorf("found %d, want at least the %d supported", found, len(supported))
	}
}

func scanFile(c *clamav.Client, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.Scan(ctx, path, f)
}

func TestPingVersionTCPAndUnix(t *testing.T) {
	d := MustStartClamd(t)
	ctx := context.Background()
	for _, addr := range []string{d.Socket, "unix://" + d.Socket, d.TCP, "tcp://" + d.TCP} {
		c := mustNew(t, addr, clamav.Options{})
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("%s: ping: %v", addr, err)
		}
		v, err := c.Version(ctx)
		if err != nil {
			t.Fatalf("%s: version: %v", addr, err)
		}
		if !strings.HasPrefix(v, "ClamAV ") {
			t.Errorf("%s: version %q", addr, v)
		}
		threat, err := c.Scan(ctx, "eicar.com", strings.NewReader(herd.EICAR))
		if err != nil || threat != eicarName {
			t.Errorf("%s: scan EICAR = %q, %v; want %q", addr, threat, err, eicarName)
		}
	}
}

func TestScanCleanAndChunks(t *testing.T) {
	d := MustStartClamd(t)
	ctx := context.Background()
	// Tiny chunks: EICAR crosses many of them and must still be found.
	c := mustNew(t, d.Socket, clamav.Options{ChunkSize: 7})
	if threat, err := c.Scan(ctx, "eicar", strings.NewReader(herd.EICAR)); err != nil || threat != eicarName {
		t.Errorf("EICAR in 7-byte chunks = %q, %v; want %q", threat, err, eicarName)
	}
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"empty", nil},
		{"text", []byte("hello, clamd\n")},
		{"EICAR with a byte more", []byte(herd.EICAR + "x")},
		{"zeros over one chunk", make([]byte, 200<<10)},
	} {
		threat, err := mustNew(t, d.Socket, clamav.Options{}).Scan(ctx, tc.name, bytes.NewReader(tc.content))
		if err != nil || threat != "" {
			t.Errorf("%s: = %q, %v; want clean", tc.name, threat, err)
		}
	}
}

func TestConcurrentScans(t *testing.T) {
	d := MustStartClamd(t)
	c := mustNew(t, d.Socket, clamav.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			content, want := "clean file "+fmt.Sprint(i), ""
			if i%2 == 0 {
				content, want = herd.EICAR, eicarName
			}
			threat, err := c.Scan(context.Background(), fmt.Sprint(i), strings.NewReader(content))
			if err != nil || threat != want {
				errs <- fmt.Errorf("scan %d = %q, %v; want %q", i, threat, err, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestStreamMaxLength(t *testing.T) {
	d := MustStartClamd(t)
	ctx := context.Background()
	big := make([]byte, clamdStreamMax+1)

	// The agent's limit: the content is refused before it is all sent.
	c := mustNew(t, d.Socket, clamav.Options{StreamMaxLength: 1000})
	_, err := c.Scan(ctx, "big.bin", bytes.NewReader(big))
	if herd.ErrorCode(err) != herd.ETOOLARGE || !strings.Contains(err.Error(), "StreamMaxLength (1000 bytes)") || !strings.Contains(err.Error(), "big.bin") {
		t.Errorf("over the agent's limit: %v; want ETOOLARGE naming StreamMaxLength and the file", err)
	}
	// Exactly at the limit is scanned.
	if threat, err := c.Scan(ctx, "1000.bin", bytes.NewReader(big[:1000])); err != nil || threat != "" {
		t.Errorf("at the limit = %q, %v; want clean", threat, err)
	}

	// clamd's limit below the agent's: clamd's refusal is explained.
	c = mustNew(t, d.Socket, clamav.Options{StreamMaxLength: 4 * clamdStreamMax})
	_, err = c.Scan(ctx, "big.bin", bytes.NewReader(big))
	if herd.ErrorCode(err) != herd.ETOOLARGE || !strings.Contains(err.Error(), "clamd's StreamMaxLength") {
		t.Errorf("over clamd's limit: %v; want ETOOLARGE naming clamd's StreamMaxLength", err)
	}
	// The daemon still serves.
	if threat, err := c.Scan(ctx, "eicar", strings.NewReader(herd.EICAR)); err != nil || threat != eicarName {
		t.Errorf("after the refusal: %q, %v", threat, err)
	}
}

// stalledPeer accepts connections and reads them without ever answering,
// like a clamd that hangs. It returns the address.
func stalledPeer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = io.Copy(io.Discard, conn)
			}()
		}
	}()
	return l.Addr().String()
}

func TestDeadlines(t *testing.T) {
	addr := stalledPeer(t)

	// The caller's deadline.
	c := mustNew(t, addr, clamav.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Scan(ctx, "x", strings.NewReader("content"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ctx deadline: %v; want context.DeadlineExceeded", err)
	}

	// The caller cancels.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := c.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v; want context.Canceled", err)
	}

	// The per-scan timeout.
	c = mustNew(t, "tcp://"+addr, clamav.Options{Timeout: 200 * time.Millisecond})
	_, err = c.Scan(context.Background(), "x", strings.NewReader("content"))
	if herd.ErrorCode(err) != herd.EUNAVAILABLE || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Errorf("scan timeout: %v; want EUNAVAILABLE, no answer within 200ms", err)
	}
}

func TestUnavailable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	c := mustNew(t, sock, clamav.Options{})
	_, err := c.Scan(context.Background(), "x", strings.NewReader("content"))
	if herd.ErrorCode(err) != herd.EUNAVAILABLE || !strings.Contains(err.Error(), "cannot connect") {
		t.Errorf("no daemon: %v; want EUNAVAILABLE cannot connect", err)
	}
	if err := c.Ping(context.Background()); herd.ErrorCode(err) != herd.EUNAVAILABLE {
		t.Errorf("ping no daemon: %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestReadError(t *testing.T) {
	d := MustStartClamd(t)
	c := mustNew(t, d.Socket, clamav.Options{})
	_, err := c.Scan(context.Background(), "f", failingReader{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("read error: %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		addr string
		opt  clamav.Options
	}{
		{"", clamav.Options{}},
		{"unix://", clamav.Options{}},
		{"tcp://", clamav.Options{}},
		{"localhost", clamav.Options{}},
		{"127.0.0.1:3310", clamav.Options{StreamMaxLength: -1}},
		{"127.0.0.1:3310", clamav.Options{Timeout: -time.Second}},
		{"127.0.0.1:3310", clamav.Options{ChunkSize: -1}},
	} {
		if _, err := clamav.New(tc.addr, tc.opt); herd.ErrorCode(err) != herd.EINVALID {
			t.Errorf("New(%q, %+v) = %v; want EINVALID", tc.addr, tc.opt, err)
		}
	}
	c := mustNew(t, "127.0.0.1:3310", clamav.Options{})
	if c.Name() != "clamav" || c.Addr() != "tcp:127.0.0.1:3310" {
		t.Errorf("Name, Addr = %q, %q", c.Name(), c.Addr())
	}
}

// BenchmarkScan measures one INSTREAM scan (connection, stream, reply) of
// 1 MiB of random bytes and of the 68-byte EICAR file, on a unix socket.
func BenchmarkScan(b *testing.B) {
	d := MustStartClamd(b)
	c := mustNew(b, d.Socket, clamav.Options{})
	random := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(random)
	for _, bc := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"1MiB", random, ""},
		{"EICAR", []byte(herd.EICAR), eicarName},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.content)))
			b.ReportAllocs()
			for b.Loop() {
				threat, err := c.Scan(context.Background(), bc.name, bytes.NewReader(bc.content))
				if err != nil || threat != bc.want {
					b.Fatalf("Scan = %q, %v", threat, err)
				}
			}
		})
	}
}
