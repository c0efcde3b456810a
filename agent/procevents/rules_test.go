//go:build linux

package procevents

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herdsec/herd/agent/rules"
)

// Two shipped rules that flag a program by its name: an Image ending in
// /userdel (proc_creation_lnx_userdel.yml) or in /groupdel
// (proc_creation_lnx_groupdel.yml).
const (
	userdelRule  = "08f26069-6f80-474b-8d1f-d971c6fedea0"
	groupdelRule = "8a46f16c-8c4c-82d1-b121-0fdd3ba70a84"
)

// TestWatchShippedRule watches, with each source and the shipped rules, the start of a harmless program (sleep) copied under the
// names userdel and groupdel: each start is flagged by its own rule and
// not by the other's.
func TestWatchShippedRule(t *testing.T) {
	set, err := rules.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []Kind{Poll, Connector} {
		t.Run(string(kind), func(t *testing.T) {
			src, err := Open(Options{Kind: kind, Interval: 20 * time.Millisecond})
			if err != nil {
				t.Skip(err)
			}
			testWatch(t, src, set)
		})
	}
}

func testWatch(t *testing.T, src Source, set *rules.Set) {
	var (
		mu    sync.Mutex
		found = map[int][]string{} // pid → rule ids matched
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, src, set, func(ev rules.Event, ms []rules.Match, err error) {
			if err != nil {
				t.Errorf("evaluate %v: %v", ev.Fields, err)
			}
			pid, _ := ev.Fields["ProcessId"].(int)
			mu.Lock()
			defer mu.Unlock()
			for _, m := range ms {
				found[pid] = append(found[pid], m.RuleID)
			}
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
		src.Close()
	}()

	user := startChild(t, copySleep(t, "userdel"), "30")
	group := startChild(t, copySleep(t, "groupdel"), "30")
	matched := func(pid int) []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(found[pid])
	}
	for i := 0; i < 3000; i++ {
		if len(matched(user.Process.Pid)) > 0 && len(matched(group.Process.Pid)) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range []struct {
		pid       int
		want, not string
	}{{user.Process.Pid, userdelRule, groupdelRule}, {group.Process.Pid, groupdelRule, userdelRule}} {
		if ids := matched(c.pid); !slices.Contains(ids, c.want) || slices.Contains(ids, c.not) {
			t.Errorf("pid %d: matched %v within 30s, want %s and not %s", c.pid, ids, c.want, c.not)
		}
	}
}
