package fswatch_test

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/herdsec/herd/agent/fswatch"
)

// waitFor returns once path is reported, or fails after a generous deadline.
func waitFor(t *testing.T, w fswatch.Watcher, path string) fswatch.Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e, ok := <-w.Events():
			if !ok {
				t.Fatalf("%s: events closed before %s was reported", w.Kind(), path)
			}
			if e.Path == path {
				return e
			}
		case err := <-w.Errors():
			t.Logf("%s: %v", w.Kind(), err)
		case <-deadline:
			t.Fatalf("%s: %s not reported", w.Kind(), path)
		}
	}
}

func watchers(t *testing.T, dir string) []fswatch.Watcher {
	var ws []fswatch.Watcher
	in, err := fswatch.NewInotify([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	ws = append(ws, in)
	if fa, err := fswatch.NewFanotify([]string{dir}); err == nil {
		ws = append(ws, fa)
	} else {
		t.Logf("fanotify not tested here: %v", err)
	}
	// What the daemon uses: fanotify with inotify beside it, where permitted.
	if w, fallback, err := fswatch.New([]string{dir}); err != nil {
		t.Fatal(err)
	} else if fallback == nil {
		ws = append(ws, w)
	}
	t.Cleanup(func() {
		for _, w := range ws {
			w.Close()
		}
	})
	return ws
}

func TestWrittenFilesAreReported(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range watchers(t, dir) {
		t.Run(w.Kind(), func(t *testing.T) {
			base := filepath.Join(dir, strings.ReplaceAll(w.Kind(), "+", "-"))
			// A file written and closed by another process (fanotify
			// leaves out the watcher's own writes).
			p := base + "-written"
			if out, err := exec.Command("/bin/sh", "-c", `echo x > "$1"`, "sh", p).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if e := waitFor(t, w, p); w.Kind() == "fanotify" && e.Pid <= 0 {
				t.Fatalf("fanotify event without the writer's pid: %+v", e)
			}
			if w.Kind() == "fanotify" {
				return // fanotify alone reports writes only; New adds inotify for moves and new folders
			}
			// A file moved in from elsewhere (a download renamed at its end).
			src := filepath.Join(dir, "."+strings.ReplaceAll(w.Kind(), "+", "-")+"-download.part")
			if out, err := exec.Command("/bin/sh", "-c", `echo y > "$1"`, "sh", src).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if err := os.Rename(src, base+"-moved"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, w, base+"-moved")
			// A file in a folder created after the watch started.
			sub := filepath.Join(base+"-sub", "deeper")
			if err := os.MkdirAll(sub, 0o700); err != nil {
				t.Fatal(err)
			}
			// Written by another process, as for the first file: fanotify
			// leaves out the watcher's own writes.
			p = filepath.Join(sub, "new")
			if out, err := exec.Command("/bin/sh", "-c", `echo z > "$1"`, "sh", p).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			waitFor(t, w, p)
		})
	}
}

func TestCloseEndsEvents(t *testing.T) {
	for _, w := range watchers(t, t.TempDir()) {
		w.Close()
		select {
		case _, ok := <-w.Events():
			for ok {
				_, ok = <-w.Events()
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Events not closed after Close", w.Kind())
		}
	}
}

func TestNewRefusesMissingFolder(t *testing.T) {
	if _, _, err := fswatch.New([]string{filepath.Join(t.TempDir(), "absent")}); err == nil {
		t.Fatal("watching a missing folder succeeded")
	}
	if _, _, err := fswatch.New(nil); err == nil {
		t.Fatal("watching nothing succeeded")
	}
}

func FuzzDecodeInotify(f *testing.F) {
	rec := func(wd int32, mask uint32, name string) []byte {
		b := binary.NativeEndian.AppendUint32(nil, uint32(wd))
		b = binary.NativeEndian.AppendUint32(b, mask)
		b = binary.NativeEndian.AppendUint32(b, 0)
		padded := append([]byte(name), make([]byte, 16-len(name)%16)...)
		b = binary.NativeEndian.AppendUint32(b, uint32(len(padded)))
		return append(b, padded...)
	}
	f.Add(append(rec(1, unix.IN_CLOSE_WRITE, "a"), rec(2, unix.IN_CREATE|unix.IN_ISDIR, "dir")...))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		evs := fswatch.DecodeInotify(b)
		used := 0
		for _, e := range evs {
			used += 16
			if len(e.Name) > len(b)-used {
				t.Fatalf("name of %d bytes from %d left", len(e.Name), len(b)-used)
			}
		}
		if len(evs)*16 > len(b) {
			t.Fatalf("%d events from %d bytes", len(evs), len(b))
		}
	})
}

func FuzzDecodeFanotify(f *testing.F) {
	rec := func(mask uint64, fd, pid int32) []byte {
		b := binary.NativeEndian.AppendUint32(nil, 24)
		b = append(b, unix.FANOTIFY_METADATA_VERSION, 0, 24, 0)
		b = binary.NativeEndian.AppendUint64(b, mask)
		b = binary.NativeEndian.AppendUint32(b, uint32(fd))
		return binary.NativeEndian.AppendUint32(b, uint32(pid))
	}
	f.Add(append(rec(unix.FAN_CLOSE_WRITE, 5, 100), rec(unix.FAN_Q_OVERFLOW, -1, 0)...))
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		evs := fswatch.DecodeFanotify(b)
		if len(evs)*24 > len(b) {
			t.Fatalf("%d events from %d bytes", len(evs), len(b))
		}
	})
}
