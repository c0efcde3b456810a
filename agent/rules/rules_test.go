package rules

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// TestShippedRulesLoad: every shipped rule loads, with a unique id, and
// the licence the rules come under ships with them.
func TestShippedRulesLoad(t *testing.T) {
	s, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	filepath.WalkDir(filepath.Join("sigma", "linux"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".yml" {
			files++
		}
		return err
	})
	if len(s.Rules) != files || files < 200 {
		t.Fatalf("%d rules loaded from %d shipped rule files", len(s.Rules), files)
	}
	for _, f := range []string{"LICENSE", "README.md"} {
		b, err := os.ReadFile(filepath.Join("sigma", f))
		if err != nil || !bytes.Contains(b, []byte("Detection Rule License")) {
			t.Errorf("sigma/%s: %v; want the Detection Rule License named", f, err)
		}
	}
}

// TestScenarios evaluates recorded events (testdata/<scenario>/events.jsonl)
// against the shipped rules: want.json lists, per event, exactly the rule
// ids that must match (hits and non-hits).
func TestScenarios(t *testing.T) {
	s, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join("testdata", "*", "events.jsonl"))
	if len(dirs) == 0 {
		t.Fatal("no scenarios")
	}
	for _, ef := range dirs {
		dir := filepath.Dir(ef)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var want [][]string
			b, err := os.ReadFile(filepath.Join(dir, "want.json"))
			if err != nil || json.Unmarshal(b, &want) != nil {
				t.Fatalf("want.json: %v", err)
			}
			f, err := os.Open(ef)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			i := 0
			for ; sc.Scan(); i++ {
				ev, err := ParseEvent(sc.Bytes())
				if err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				ms, err := s.Evaluate(context.Background(), ev)
				if err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				var got []string
				for _, m := range ms {
					got = append(got, m.RuleID)
				}
				slices.Sort(got)
				if i >= len(want) || !slices.Equal(got, want[i]) && !(len(got) == 0 && len(want[i]) == 0) {
					t.Errorf("line %d: rules %v, want %v", i+1, got, want[min(i, len(want)-1)])
				}
			}
			if i != len(want) {
				t.Errorf("%d events, want.json has %d", i, len(want))
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	good := "title: T\nid: 11111111-2222-3333-4444-555555555555\nlogsource:\n  category: process_creation\ndetection:\n  sel:\n    Image|endswith: /x\n  condition: sel\n"
	for name, fsys := range map[string]fstest.MapFS{
		"not yaml":        {"a.yml": {Data: []byte("title: [")}},
		"no id":           {"a.yml": {Data: []byte(strings.Replace(good, "id: 11111111-2222-3333-4444-555555555555\n", "", 1))}},
		"no condition":    {"a.yml": {Data: []byte(strings.Replace(good, "  condition: sel\n", "", 1))}},
		"duplicate id":    {"a.yml": {Data: []byte(good)}, "b.yml": {Data: []byte(good)}},
		"no rules at all": {"notes.txt": {Data: []byte("x")}},
	} {
		if _, err := Load(fsys); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	s, err := Load(fstest.MapFS{"r/a.yml": {Data: []byte(good)}})
	if err != nil || len(s.Rules) != 1 || s.Rules[0].File != "r/a.yml" {
		t.Fatalf("a good rule: %v", err)
	}
	for _, bad := range []string{`[1]`, `{"logsource":"x"}`, `{"logsource":{"zone":"x"}}`, `{"a":1} {"b":2}`, `null`} {
		if _, err := ParseEvent([]byte(bad)); err == nil {
			t.Errorf("ParseEvent(%s) accepted", bad)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"logsource":{"category":"process_creation"},"Image":"/bin/sh","CommandLine":"sh -c id"}`))
	f.Add([]byte(`{"message":"x","n":1.5,"l":[1,"a",{"b":null}]}`))
	s, err := Shipped()
	if err != nil {
		f.Fatal(err)
	}
	full := &Set{Rules: s.Rules, NoPrefilter: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseEvent(b)
		if err != nil {
			return
		}
		got, err := s.Evaluate(context.Background(), ev)
		if err != nil {
			t.Fatalf("Evaluate(%q): %v", b, err)
		}
		// The prefilter never changes the answer.
		if want, err := full.Evaluate(context.Background(), ev); err != nil || !slices.Equal(got, want) {
			t.Fatalf("Evaluate(%q) = %v with the prefilter, %v (%v) without", b, got, want, err)
		}
	})
}

func FuzzParseRule(f *testing.F) {
	b, _ := os.ReadFile(filepath.Join("sigma", "linux", "process_creation", "proc_creation_lnx_at_command.yml"))
	f.Add(b)
	f.Add([]byte("title: k\nid: x\nlogsource: {}\ndetection:\n  keywords: [a, b]\n  condition: keywords\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		ev := Event{Fields: map[string]any{"Image": "/usr/bin/at", "message": fmt.Sprint(len(b))}}
		if _, err := (&Set{Rules: []*Rule{r}}).Evaluate(context.Background(), ev); err != nil && strings.Contains(err.Error(), "keywords unsupported") {
			t.Fatalf("a keyword search reached the evaluator: %v", err)
		}
	})
}

// TestPrefilterChangesNothing: the prefilter only skips rules that cannot
// match. Events made of each rule's own literals (so that rules fire) and
// the scenario events get the same matches with and without it.
func TestPrefilterChangesNothing(t *testing.T) {
	s, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	full := &Set{Rules: s.Rules, NoPrefilter: true}
	ctx := context.Background()
	var events []Event
	for _, r := range s.Rules {
		for _, l := range r.needs {
			f := map[string]any{}
			for _, k := range []string{"Image", "CommandLine", "ParentImage", "ParentCommandLine", "TargetFilename", "DestinationHostname", "message", "type", "name", "key", "exe", "comm", "a0", "a1"} {
				f[k] = l
			}
			events = append(events, Event{Logsource: r.Logsource, Fields: f})
		}
	}
	paths, _ := filepath.Glob(filepath.Join("testdata", "*", "events.jsonl"))
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			ev, err := ParseEvent(line)
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, ev)
		}
	}
	fired := 0
	for _, ev := range events {
		a, err1 := s.Evaluate(ctx, ev)
		b, err2 := full.Evaluate(ctx, ev)
		if err1 != nil || err2 != nil || !slices.Equal(a, b) {
			t.Fatalf("event %v: with the prefilter %v (%v), without %v (%v)", ev.Fields, a, err1, b, err2)
		}
		fired += len(a)
	}
	if fired < 50 {
		t.Fatalf("only %d matches over %d events: the comparison says little", fired, len(events))
	}
	t.Logf("%d events, %d matches, the same with and without the prefilter", len(events), fired)
}
