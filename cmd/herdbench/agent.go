package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/herdsec/herd/sigdb"
)

// goalAgentIdleMB is the agent daemon's memory goal when idle with 1M
// signatures loaded.
const goalAgentIdleMB = 100

// AgentResults is the agent daemon's memory, idle, as herd watch runs it.
type AgentResults struct {
	Signatures int     `json:"signatures"`
	Command    string  `json:"command"`
	Idle       float64 `json:"idle_seconds"`
	RSSMB      float64 `json:"rss_mb"`      // resident set after the idle time
	PeakRSSMB  float64 `json:"peak_rss_mb"` // the most it held, loading included
	// RunningMaxMB is the most of the samples taken once it had started.
	RunningMaxMB float64 `json:"running_max_rss_mb"`
	Watcher      string  `json:"watcher"`
	Processes    string  `json:"process_events"`
}

// runAgentIdle starts herd watch with the plan's signature count loaded,
// behaviour rules on, one folder watched and full consent (the first
// application inventory runs), lets it idle a minute, and reads its
// resident memory from /proc.
func runAgentIdle(ctx context.Context, p Plan, out string, bin Binaries, logf func(string, ...any)) (*AgentResults, error) {
	dir := filepath.Join(out, "agent")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	watched, stateDir := filepath.Join(dir, "watched"), filepath.Join(dir, "state")
	for _, d := range []string{watched, stateDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	db := filepath.Join(dir, "signatures.hsb")
	f, err := os.Create(db)
	if err != nil {
		return nil, err
	}
	if err := sigdb.WriteBenchHSB(f, p.Signatures); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	// Full consent, so the daily inventory runs at start as it would for
	// a person who allowed it (the cloud is unreachable: nothing leaves).
	consent := exec.CommandContext(ctx, bin.Herd, "--cloud", "http://127.0.0.1:1", "--state", stateDir, "consent", "set", "full")
	if out, err := consent.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("herd consent set full: %w\n%s", err, out)
	}
	args := []string{"--state", stateDir, "watch", "--no-cloud", "--db", db, "--path", watched}
	logf("agent: herd %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin.Herd, args...)
	cmd.Env = append(os.Environ(), "HERD_CLOUD=http://127.0.0.1:1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	var log bytes.Buffer
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), "herd watch started") {
				once = true
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(2 * time.Minute):
		return nil, fmt.Errorf("herd watch did not start within 2 minutes")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Sampled every 5 s for a minute: the start-up checks (the application
	// inventory) run meanwhile; the last sample is the idle figure.
	const idle = time.Minute
	var rss, peak, running float64
	for t := time.Duration(0); t < idle; t += 5 * time.Second {
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if rss, peak, err = procRSS(cmd.Process.Pid); err != nil {
			return nil, err
		}
		running = max(running, rss)
	}
	r := &AgentResults{Signatures: p.Signatures, Command: "herd " + strings.Join(args, " "), Idle: idle.Seconds(), RSSMB: rss, PeakRSSMB: peak, RunningMaxMB: running}
	for _, line := range strings.Split(log.String(), "\n") {
		if v, ok := logValue(line, "watcher"); ok && strings.Contains(line, "real-time protection") {
			r.Watcher = v
		}
		if v, ok := logValue(line, "source"); ok && strings.Contains(line, "process events") {
			r.Processes = v
		}
	}
	logf("agent: idle RSS %.1f MB, at most %.1f MB once started, peak %.1f MB", rss, running, peak)
	return r, nil
}

// procRSS returns a process's resident set and its peak, in MB (10^6 bytes).
func procRSS(pid int) (rss, peak float64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("agent memory: %w (it is read from /proc: Linux only)", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = kb * 1024 / 1e6
		case "VmHWM":
			peak = kb * 1024 / 1e6
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("agent memory: no VmRSS in /proc/%d/status", pid)
	}
	return rss, peak, nil
}

func printAgent(w io.Writer, a *AgentResults) {
	fmt.Fprintf(w, "\nAgent daemon, idle %.0f s: %s\n", a.Idle, a.Command)
	fmt.Fprintf(w, "  %s signatures, real-time protection by %s, process events by %s\n", thousands(float64(a.Signatures)), a.Watcher, a.Processes)
	fmt.Fprintf(w, "  resident memory %.1f MB after %.0f s (at most %.1f MB once started; peak while loading %.1f MB)\n", a.RSSMB, a.Idle, a.RunningMaxMB, a.PeakRSSMB)
}
