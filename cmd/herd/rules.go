package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/herdsec/herd/agent/rules"
	"github.com/herdsec/herd/internal/cli"
)

// maxEventLine bounds one recorded event.
const maxEventLine = 1 << 20

// rulesCmd runs "herd rules test EVENTS.jsonl [--rules DIR]": it evaluates
// recorded events (one JSON object per line, with the field names the
// rules use, and optionally "logsource") against the shipped Linux Sigma
// rules or the rules in DIR, and prints each match with the rule's id.
// Exit status: 0 no match, 1 a match, 2 an error.
func (m *Main) rulesCmd(ctx context.Context, args []string) int {
	fail := func(err error) int {
		fmt.Fprintln(m.Stderr, "herd rules:", err)
		return ExitError
	}
	if len(args) == 0 || args[0] != "test" {
		return fail(fmt.Errorf("want test EVENTS.jsonl [--rules DIR]"))
	}
	fl := flag.NewFlagSet("herd rules test", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	dir := fl.String("rules", "", "a `folder` of Sigma rules (.yml) instead of the shipped Linux rules")
	pos, err := cli.Parse(fl, args[1:])
	if err != nil {
		return ExitError
	}
	if len(pos) != 1 {
		return fail(fmt.Errorf("want test EVENTS.jsonl [--rules DIR]"))
	}
	var set *rules.Set
	if *dir != "" {
		set, err = rules.Load(os.DirFS(*dir))
		if err != nil {
			return fail(fmt.Errorf("%s: %w", *dir, err))
		}
	} else if set, err = rules.Shipped(); err != nil {
		return fail(err)
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxEventLine)
	line, events, matched := 0, 0, 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		ev, err := rules.ParseEvent(sc.Bytes())
		if err != nil {
			return fail(fmt.Errorf("%s:%d: %w", pos[0], line, err))
		}
		events++
		ms, err := set.Evaluate(ctx, ev)
		if err != nil {
			return fail(fmt.Errorf("%s:%d: %w", pos[0], line, err))
		}
		for _, mt := range ms {
			matched++
			fmt.Fprintf(m.Stdout, "%s:%d: %s %s (%s)\n", pos[0], line, mt.RuleID, mt.Title, mt.Level)
		}
	}
	if err := sc.Err(); err != nil {
		return fail(fmt.Errorf("%s:%d: %w", pos[0], line+1, err))
	}
	fmt.Fprintf(m.Stdout, "%d events, %d rules, %d matches\n", events, len(set.Rules), matched)
	if matched > 0 {
		return ExitFound
	}
	return ExitClean
}
