package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/rules"
	"github.com/herdsec/herd/agent/rules/bundle"
	"github.com/herdsec/herd/internal/cli"
)

// maxEventLine bounds one recorded event.
const maxEventLine = 1 << 20

const rulesUsage = "want test EVENTS.jsonl [--rules DIR], update [--cloud URL] or list"

// rulesWith runs "herd rules test|update|list".
func (m *Main) rulesWith(ctx context.Context, g globals, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(m.Stderr, "herd rules:", rulesUsage)
		return ExitError
	}
	switch args[0] {
	case "test":
		return m.rulesTest(ctx, g, args[1:])
	case "update":
		return m.rulesUpdate(ctx, g, args[1:])
	case "list":
		return m.rulesList(g, args[1:])
	}
	fmt.Fprintln(m.Stderr, "herd rules:", rulesUsage)
	return ExitError
}

// stateFlag lets "herd rules" subcommands name the state folder after the
// subcommand too.
func stateFlag(fl *flag.FlagSet, g *globals) {
	fl.Func("state", "state `folder`", func(v string) error { g.state = v; return nil })
}

// rulesTest runs "herd rules test EVENTS.jsonl [--rules DIR]": it evaluates
// recorded events (one JSON object per line, with the field names the
// rules use, and optionally "logsource") against the shipped Linux Sigma
// rules and the cloud's installed rule bundle (verified again), or only
// the rules in DIR, and prints each match with the rule's id.
// Exit status: 0 no match, 1 a match, 2 an error.
func (m *Main) rulesTest(ctx context.Context, g globals, args []string) int {
	fail := func(err error) int {
		fmt.Fprintln(m.Stderr, "herd rules:", err)
		return ExitError
	}
	fl := flag.NewFlagSet("herd rules test", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	dir := fl.String("rules", "", "a `folder` of Sigma rules (.yml) instead of the shipped and installed rules")
	stateFlag(fl, &g)
	pos, err := cli.Parse(fl, args)
	if err != nil {
		return ExitError
	}
	if len(pos) != 1 {
		return fail(errors.New("want test EVENTS.jsonl [--rules DIR]"))
	}
	var set *rules.Set
	switch {
	case *dir != "":
		if set, err = rules.Load(os.DirFS(*dir)); err != nil {
			return fail(fmt.Errorf("%s: %w", *dir, err))
		}
	case g.state != "":
		if set, err = bundle.LoadInstalled(g.state); err != nil {
			return fail(fmt.Errorf("installed rules: %w (herd rules update fetches them again)", err))
		}
	default:
		if set, err = rules.Shipped(); err != nil {
			return fail(err)
		}
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

// rulesUpdate runs "herd rules update": it downloads the cloud's latest
// rule bundle and installs it once verified against the CA pinned at
// enrollment; unsigned, altered, wrongly signed and older bundles are
// refused.
func (m *Main) rulesUpdate(ctx context.Context, g globals, args []string) int {
	fail := func(err error) int {
		fmt.Fprintln(m.Stderr, "herd rules update:", err)
		return ExitError
	}
	fl := flag.NewFlagSet("herd rules update", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	cloudFlag := fl.String("cloud", g.cloud, "cloud `URL`")
	stateFlag(fl, &g)
	if pos, err := cli.Parse(fl, args); err != nil {
		return ExitError
	} else if len(pos) > 0 {
		return fail(fmt.Errorf("unexpected argument %q", pos[0]))
	}
	if g.state == "" {
		return fail(errors.New("no state folder (use --state DIR)"))
	}
	if _, err := bundle.PinnedCA(g.state); err != nil {
		return fail(err)
	}
	cloudURL := m.cloudURL(g, *cloudFlag)
	c, err := m.cloudClient("herd rules update", g, cloudURL)
	if err != nil {
		return ExitError
	}
	res, err := bundle.Update(ctx, g.state, c, time.Now())
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		return fail(fmt.Errorf("the cloud at %s has published no rules", cloudURL))
	}
	if err != nil {
		return fail(err)
	}
	if !res.Installed {
		fmt.Fprintf(m.Stdout, "rules: up to date: generation %d, %d rules\n", res.Bundle.Generation, len(res.Rules))
		return ExitClean
	}
	was := "none before"
	if res.Previous > 0 {
		was = fmt.Sprintf("replacing generation %d", res.Previous)
	}
	fmt.Fprintf(m.Stdout, "rules: installed generation %d of %s, %d rules, signed %s (%s)\n",
		res.Bundle.Generation, res.Bundle.Created.Format(time.RFC3339), len(res.Rules), res.Bundle.Certificates[0].Subject.CommonName, was)
	return ExitClean
}

// rulesList runs "herd rules list": every rule the agent evaluates, the
// shipped ones and the cloud's installed bundle (verified again).
func (m *Main) rulesList(g globals, args []string) int {
	fail := func(err error) int {
		fmt.Fprintln(m.Stderr, "herd rules list:", err)
		return ExitError
	}
	fl := flag.NewFlagSet("herd rules list", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	stateFlag(fl, &g)
	if pos, err := cli.Parse(fl, args); err != nil {
		return ExitError
	} else if len(pos) > 0 {
		return fail(fmt.Errorf("unexpected argument %q", pos[0]))
	}
	shipped, err := rules.Shipped()
	if err != nil {
		return fail(err)
	}
	var (
		bd    *bundle.Bundle
		cloud []*rules.Rule
	)
	if g.state != "" {
		if bd, cloud, err = bundle.Installed(g.state); err != nil {
			return fail(err)
		}
	}
	set := shipped.With(cloud)
	fromCloud := map[*rules.Rule]bool{}
	for _, r := range cloud {
		fromCloud[r] = true
	}
	for _, r := range set.Rules {
		src := "shipped"
		if fromCloud[r] {
			src = "cloud"
		}
		fmt.Fprintf(m.Stdout, "%s  %-7s  %s (%s)  %s\n", r.ID, src, r.Title, r.Level, r.File)
	}
	if bd == nil {
		fmt.Fprintf(m.Stdout, "%d rules: %d shipped; no cloud rules installed (herd rules update)\n", len(set.Rules), len(set.Rules))
		return ExitClean
	}
	fmt.Fprintf(m.Stdout, "%d rules: %d shipped, %d from the cloud (generation %d of %s, sha256 %s)\n",
		len(set.Rules), len(set.Rules)-len(cloud), len(cloud), bd.Generation, bd.Created.Format(time.RFC3339), bd.SHA256())
	return ExitClean
}
