//go:build linux

package procevents

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdsec/herd/agent/rules"
	"golang.org/x/sys/unix"
)

// copySleep copies the system's sleep under name in a new temporary
// directory, so that a process of it is told apart by its executable.
func copySleep(tb testing.TB, name string) string {
	tb.Helper()
	src, err := exec.LookPath("sleep")
	if err != nil {
		tb.Skip("no sleep program:", err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	dst := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dst
}

// startChild starts path with args in path's directory, and stops it when
// the test ends. exec.Cmd.Start returns once the child has called exec.
func startChild(tb testing.TB, path string, args ...string) *exec.Cmd {
	tb.Helper()
	cmd := exec.Command(path, args...)
	cmd.Dir = filepath.Dir(path)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%08x", prefix, rand.Uint32())
}

// checkChild checks the fields of the event of a child this test started.
func checkChild(t *testing.T, ev rules.Event, cmd *exec.Cmd) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"ProcessId":         cmd.Process.Pid,
		"Image":             cmd.Path,
		"CommandLine":       strings.Join(cmd.Args, " "),
		"CurrentDirectory":  cmd.Dir,
		"User":              me.Username,
		"ParentProcessId":   os.Getpid(),
		"ParentImage":       self,
		"ParentCommandLine": strings.Join(os.Args, " "),
	}
	for k, v := range want {
		if ev.Fields[k] != v {
			t.Errorf("%s = %#v, want %#v", k, ev.Fields[k], v)
		}
	}
	if ls := ev.Logsource; ls.Product != "linux" || ls.Category != "process_creation" || ls.Service != "" {
		t.Errorf("logsource %+v, want product linux, category process_creation", ls)
	}
}

// find returns the event of pid with the given image among evs.
func find(evs []rules.Event, pid int, image string) (rules.Event, bool) {
	for _, ev := range evs {
		if ev.Fields["ProcessId"] == pid && ev.Fields["Image"] == image {
			return ev, true
		}
	}
	return rules.Event{}, false
}

// TestPollCycle: a process started after Open is reported once, with its
// details, and forgotten when it exits.
func TestPollCycle(t *testing.T) {
	src, err := OpenPoll(Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := src.(*poller)
	cmd := startChild(t, copySleep(t, uniqueName("herd-pe")), "30")
	pid := cmd.Process.Pid

	var evs []rules.Event
	collect := func(ev rules.Event) { evs = append(evs, ev) }
	if err := p.cycle(collect); err != nil {
		t.Fatal(err)
	}
	ev, ok := find(evs, pid, cmd.Path)
	if !ok {
		t.Fatalf("no event of pid %d (%s) among %d", pid, cmd.Path, len(evs))
	}
	checkChild(t, ev, cmd)

	evs = nil
	if err := p.cycle(collect); err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Fields["ProcessId"] == pid {
			t.Fatalf("pid %d reported again: %v", pid, ev.Fields)
		}
	}
	if _, ok := p.known[pid]; !ok {
		t.Fatalf("pid %d not tracked while it lives", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if err := p.cycle(collect); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.known[pid]; ok {
		t.Fatalf("pid %d still tracked after it exited", pid)
	}
	if s := src.Stats(); s.Emitted == 0 || s.Cycles != 4 {
		t.Errorf("stats %+v, want events emitted and 4 cycles (one in Open)", s)
	}
}

// TestPollExecInPlace: a process that replaces its executable (a shell's
// exec) is reported again, with the new executable.
func TestPollExecInPlace(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no shell:", err)
	}
	target := copySleep(t, uniqueName("herd-pe"))
	src, err := OpenPoll(Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := src.(*poller)
	cmd := exec.Command(sh, "-c", `read line; exec "$0" 30`, target)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid

	var evs []rules.Event
	collect := func(ev rules.Event) { evs = append(evs, ev) }
	if err := p.cycle(collect); err != nil {
		t.Fatal(err)
	}
	if _, ok := find(evs, pid, target); ok {
		t.Fatal("reported with the new executable before the exec")
	}
	io.WriteString(stdin, "go\n")
	exe := procExe(pid)
	for i := 0; i < 500 && exe != target; i++ {
		time.Sleep(10 * time.Millisecond)
		exe = procExe(pid)
	}
	if exe != target {
		t.Fatalf("the shell did not exec %s: runs %q", target, exe)
	}
	evs = nil
	if err := p.cycle(collect); err != nil {
		t.Fatal(err)
	}
	ev, ok := find(evs, pid, target)
	if !ok {
		t.Fatalf("exec of %s by pid %d not reported among %d events", target, pid, len(evs))
	}
	if want := target + " 30"; ev.Fields["CommandLine"] != want {
		t.Errorf("CommandLine %q, want %q", ev.Fields["CommandLine"], want)
	}
}

func procExe(pid int) string {
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return exe
}

// TestPollMaxTracked: beyond MaxTracked, new processes are counted as
// missed and not remembered.
func TestPollMaxTracked(t *testing.T) {
	src, err := OpenPoll(Options{MaxTracked: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := src.(*poller)
	if len(p.known) != 1 {
		t.Fatalf("%d processes tracked, want 1", len(p.known))
	}
	cmd := startChild(t, copySleep(t, uniqueName("herd-pe")), "30")
	var evs []rules.Event
	if err := p.cycle(func(ev rules.Event) { evs = append(evs, ev) }); err != nil {
		t.Fatal(err)
	}
	if _, ok := find(evs, cmd.Process.Pid, cmd.Path); ok {
		t.Fatal("a process beyond MaxTracked was reported")
	}
	if len(p.known) > 1 || src.Stats().Missed == 0 {
		t.Fatalf("%d tracked, stats %+v; want at most 1 tracked and misses counted", len(p.known), src.Stats())
	}
}

// runSource runs src until the test ends, and returns its events.
func runSource(t *testing.T, src Source) <-chan rules.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan rules.Event, 4096)
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(ev rules.Event) {
			select {
			case ch <- ev:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after its context ended")
		}
		src.Close()
	})
	return ch
}

// waitFor waits, at most 30 s, for the event of pid with the given image.
func waitFor(t *testing.T, ch <-chan rules.Event, pid int, image string) rules.Event {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Fields["ProcessId"] == pid && ev.Fields["Image"] == image {
				return ev
			}
		case <-deadline:
			t.Fatalf("no event of pid %d (%s) within 30s", pid, image)
		}
	}
}

// TestSourcesReportChild runs each source and starts a child: its event
// arrives with the right details.
func TestSourcesReportChild(t *testing.T) {
	t.Run("poll", func(t *testing.T) {
		src, err := Open(Options{Kind: Poll, Interval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if src.Kind() != Poll {
			t.Fatalf("kind %q", src.Kind())
		}
		testReportsChild(t, src)
	})
	t.Run("connector", func(t *testing.T) {
		src, err := Open(Options{Kind: Connector})
		if err != nil {
			t.Skip("the process-event connector cannot be opened here:", err)
		}
		if src.Kind() != Connector {
			t.Fatalf("kind %q", src.Kind())
		}
		testReportsChild(t, src)
	})
}

func testReportsChild(t *testing.T, src Source) {
	ch := runSource(t, src)
	cmd := startChild(t, copySleep(t, uniqueName("herd-pe")), "30")
	ev := waitFor(t, ch, cmd.Process.Pid, cmd.Path)
	checkChild(t, ev, cmd)
	if s := src.Stats(); s.Emitted == 0 {
		t.Errorf("stats %+v: no event counted", s)
	}
}

// TestOpenAuto: with no kind asked, Open uses the connector when it can
// be opened, and polling otherwise, saying why.
func TestOpenAuto(t *testing.T) {
	c, cerr := OpenConnector()
	if cerr == nil {
		c.Close()
	}
	var why error
	src, err := Open(Options{OnFallback: func(err error) { why = err }})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	switch {
	case cerr == nil && (src.Kind() != Connector || why != nil):
		t.Errorf("the connector opens, but auto chose %q (fallback: %v)", src.Kind(), why)
	case cerr != nil && (src.Kind() != Poll || why == nil):
		t.Errorf("the connector fails (%v), but auto chose %q (fallback told: %v)", cerr, src.Kind(), why)
	}
	t.Logf("auto chose %s (connector: %v)", src.Kind(), cerr)
}

func TestOpenBadOptions(t *testing.T) {
	for _, o := range []Options{{Kind: "ebpf"}, {Interval: -time.Second}, {MaxTracked: -1}} {
		if src, err := Open(o); err == nil {
			src.Close()
			t.Errorf("%+v: no error", o)
		}
	}
}

// TestRunOnceAndClose: Run refuses a second call, and returns once the
// source is closed.
func TestRunOnceAndClose(t *testing.T) {
	for _, kind := range []Kind{Poll, Connector} {
		t.Run(string(kind), func(t *testing.T) {
			src, err := Open(Options{Kind: kind, Interval: time.Millisecond})
			if err != nil {
				t.Skip(err)
			}
			done := make(chan error, 1)
			go func() { done <- src.Run(context.Background(), func(rules.Event) {}) }()
			// Wait (bounded) for the first Run to have started.
			for i := 0; i < 3000 && !running(src); i++ {
				time.Sleep(time.Millisecond)
			}
			cancelled, cancel := context.WithCancel(context.Background())
			cancel()
			if err := src.Run(cancelled, func(rules.Event) {}); err != errRunTwice {
				t.Errorf("second Run: %v, want %v", err, errRunTwice)
			}
			src.Close()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run after Close: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return after Close")
			}
		})
	}
}

func running(src Source) bool {
	switch s := src.(type) {
	case *poller:
		return s.ran.Load()
	case *connector:
		return s.ran.Load()
	}
	return false
}

// TestConnectorOverrun: when the kernel drops events because the socket
// buffer is full, the connector counts it and goes on reporting.
func TestConnectorOverrun(t *testing.T) {
	c, err := openConnector(1) // the kernel's smallest buffer: a few events
	if err != nil {
		t.Skip("the process-event connector cannot be opened here:", err)
	}
	// Each process makes fork, exec and exit events, unread for now.
	for range 50 {
		if err := exec.Command("true").Run(); err != nil {
			t.Skip("cannot run true:", err)
		}
	}
	ch := runSource(t, c)
	for i := 0; i < 3000 && c.Stats().Overruns == 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if s := c.Stats(); s.Overruns == 0 {
		t.Fatalf("stats %+v: no overrun counted", s)
	}
	// With room again, events flow: the socket survived the overrun.
	c.rc.Control(func(fd uintptr) {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf); err != nil {
			t.Fatal(err)
		}
	})
	cmd := startChild(t, copySleep(t, uniqueName("herd-pe")), "30")
	checkChild(t, waitFor(t, ch, cmd.Process.Pid, cmd.Path), cmd)
}

// TestPollSkipsFork: a fork that runs no new program (a shell's
// subshell) is not reported; the shell itself is.
func TestPollSkipsFork(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no shell:", err)
	}
	src, err := OpenPoll(Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := src.(*poller)
	// The subshell waits on stdin, which stays open until the test ends.
	cmd := exec.Command(sh, "-c", "(read line; echo) ; echo")
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	var sub []int
	for i := 0; i < 500 && len(sub) == 0; i++ {
		time.Sleep(10 * time.Millisecond)
		sub = childrenOf(t, pid)
	}
	if len(sub) == 0 {
		t.Fatalf("the shell %d made no subshell", pid)
	}
	t.Cleanup(func() {
		for _, c := range sub {
			syscall.Kill(c, syscall.SIGKILL)
		}
	})
	var evs []rules.Event
	if err := p.cycle(func(ev rules.Event) { evs = append(evs, ev) }); err != nil {
		t.Fatal(err)
	}
	if _, ok := find(evs, pid, procExe(pid)); !ok {
		t.Errorf("the shell %d was not reported", pid)
	}
	for _, ev := range evs {
		if ev.Fields["ParentProcessId"] == pid {
			t.Errorf("the subshell was reported: %v", ev.Fields)
		}
	}
	if _, ok := p.known[sub[0]]; !ok {
		t.Errorf("the subshell %d is not tracked (its exec would go unseen)", sub[0])
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	names, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			continue
		}
		if st, err := parseStat(b); err == nil && st.PPID == pid {
			var c int
			fmt.Sscanf(n, "/proc/%d/stat", &c)
			out = append(out, c)
		}
	}
	return out
}
