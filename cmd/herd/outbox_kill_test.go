package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/state"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/jetstream"
)

// TestMain lets a test run the agent as a child process: with
// HERD_CHILD_ARGS set (JSON array of arguments), the test binary is herd.
func TestMain(m *testing.M) {
	if a := os.Getenv("HERD_CHILD_ARGS"); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			fmt.Fprintln(os.Stderr, "HERD_CHILD_ARGS:", err)
			os.Exit(ExitError)
		}
		os.Exit(NewMain().Run(context.Background(), args))
	}
	os.Exit(m.Run())
}

// child starts the agent as a separate process.
func child(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	b, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HERD_CHILD_ARGS="+string(b))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// stored returns how many events the cloud holds.
func stored(t *testing.T, tel *jetstream.TelemetrySink) uint64 {
	t.Helper()
	st, err := tel.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Events
}

// storedFiles returns how often each scan.finished "files" value is stored.
func storedFiles(t *testing.T, tel *jetstream.TelemetrySink) map[int]int {
	t.Helper()
	got := map[int]int{}
	err := tel.Each(context.Background(), func(s jetstream.Stored) error {
		if s.Type != "scan.finished" {
			return nil
		}
		var p struct {
			Files int `json:"files"`
		}
		if err := json.Unmarshal(s.Payload, &p); err != nil {
			return err
		}
		got[p.Files]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestOutboxSurvivesKillMidSend queues events, then has agent processes
// send them and kills each (SIGKILL) at a random moment, round after round
// with new events, and checks that the cloud ends with every event exactly
// once: none lost, none stored twice.
func TestOutboxSurvivesKillMidSend(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes in a loop")
	}
	cl, srv := cloud.MustOpenTest(t)
	stateDir := t.TempDir()
	dead := "http://127.0.0.1:1"
	if r := run(t, nil, "--cloud", dead, "--state", stateDir, "consent", "set", "full"); r.code != ExitClean {
		t.Fatalf("consent:\n%v", r)
	}
	const perRound = 2000
	tel := cl.DB.Telemetry()
	rounds, kills, midway := 0, 0, 0
	deadline := time.Now().Add(60 * time.Second)
	for ; rounds < 12 && time.Now().Before(deadline); rounds++ {
		// Queue this round's events as the reporter does (one
		// transaction for the round: the test is about sending).
		evs := make([]herd.Event, perRound)
		for i := range evs {
			evs[i] = herd.Event{
				ID: fmt.Sprintf("%016x%016x", rounds, i), Type: "scan.finished", Category: herd.CategoryOperation, Time: time.Now().UTC(),
				Payload: json.RawMessage(fmt.Sprintf(`{"files":%d,"trigger":"scheduled"}`, rounds*perRound+i)),
			}
		}
		st, err := state.Open(stateDir)
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Enqueue(evs)
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		before := stored(t, tel)
		cmd := child(t, "--cloud", srv.URL, "--state", stateDir, "flush")
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Kill once the cloud has stored part of this round, a random
		// moment later: mid-send, whatever the machine's speed.
		kill := time.NewTimer(time.Hour)
		poll := time.NewTicker(5 * time.Millisecond)
		sawStored := false
	wait:
		for {
			select {
			case <-done: // the send finished before the kill
				break wait
			case <-poll.C:
				if !sawStored && stored(t, tel) > before {
					sawStored = true
					kill.Reset(time.Duration(rand.IntN(80)) * time.Millisecond)
				}
			case <-kill.C:
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-done
				kills++
				if n := stored(t, tel); n < uint64((rounds+1)*perRound) {
					midway++ // killed with part of the round stored
				}
				break wait
			}
		}
		poll.Stop()
		kill.Stop()
	}
	// One last flush that is not interrupted.
	if r := run(t, nil, "--cloud", srv.URL, "--state", stateDir, "flush"); r.code != ExitClean {
		t.Fatalf("final flush:\n%v", r)
	}
	t.Logf("%d rounds, %d agent processes killed, %d of them mid-send", rounds, kills, midway)
	if midway < 3 {
		t.Fatalf("only %d kills mid-send in %d rounds: the test proved little", midway, rounds)
	}
	st, err := state.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := st.Pending(0)
	st.Close()
	if len(q) != 0 {
		t.Fatalf("%d events still queued", len(q))
	}
	got := storedFiles(t, tel)
	var wrong []string
	for i := range rounds * perRound {
		if got[i] != 1 {
			wrong = append(wrong, fmt.Sprintf("event %d stored %d times", i, got[i]))
		}
	}
	if len(wrong) > 0 || len(got) != rounds*perRound {
		t.Fatalf("%d of %d events not stored exactly once (%d distinct stored): %v", len(wrong), rounds*perRound, len(got), wrong[:min(len(wrong), 10)])
	}
}
