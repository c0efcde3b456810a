package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/cache"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/internal/cli"
)

// followCmd keeps the verdict cache current with the cloud's verdict
// stream until interrupted.
func (m *Main) followCmd(ctx context.Context, g globals, args []string) int {
	fl := flag.NewFlagSet("herd follow", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	cloudFlag := fl.String("cloud", g.cloud, "cloud `URL`")
	if pos, err := cli.Parse(fl, args); err != nil {
		return ExitError
	} else if len(pos) > 0 {
		fmt.Fprintf(m.Stderr, "herd follow: unexpected argument %q\n", pos[0])
		return ExitError
	}
	cloudURL := m.cloudURL(g, *cloudFlag)
	c, err := m.cloudClient("herd follow", g, cloudURL)
	if err != nil {
		return ExitError
	}
	ch, err := cache.Open(g.state, cache.Options{Cloud: cloudURL})
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd follow:", err)
		return ExitError
	}
	seq, err := ch.Seq()
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd follow:", err)
		return ExitError
	}
	fmt.Fprintf(m.Stdout, "following verdict changes of %s after change %d; interrupt to stop\n", cloudURL, seq)
	caughtUp := false
	err = cache.Follow(ctx, ch, c, cache.FollowOptions{
		Applied: func(seq uint64, touched []herd.VerdictChange) {
			for _, ch := range touched {
				what := string(ch.Record.Verdict)
				if ch.Deleted {
					what = "verdict deleted: dropped"
				} else if ch.Record.Threat != "" {
					what += " (" + ch.Record.Threat + ")"
				}
				fmt.Fprintf(m.Stdout, "change %d: %s: %s\n", ch.Seq, ch.Record.Object, what)
			}
		},
		CaughtUp: func(seq uint64) {
			if !caughtUp {
				fmt.Fprintf(m.Stdout, "caught up at change %d\n", seq)
				caughtUp = true
			}
		},
		Retry: func(err error, wait time.Duration) {
			fmt.Fprintf(m.Stderr, "herd follow: %s; retrying in %s\n", herd.ErrorMessage(err), wait.Round(100*time.Millisecond))
		},
	})
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd follow:", err)
		return ExitError
	}
	if seq, err = ch.Seq(); err == nil {
		fmt.Fprintf(m.Stdout, "stopped after change %d\n", seq)
	}
	return ExitClean
}

// cloudClient returns a client of cloudURL if the device's consent allows
// contact with it, and says why not otherwise. Like scan, it reads the
// consent only if there is a state, and closes it at once: a long-running
// command must not hold the state file.
func (m *Main) cloudClient(cmd string, g globals, cloudURL string) (*httpapi.Client, error) {
	rep, err := m.openReporter(g.state, true)
	if err != nil {
		fmt.Fprintf(m.Stderr, "%s: %v\n", cmd, err)
		return nil, err
	}
	if rep != nil {
		rec, _, err := rep.Consent()
		rep.State.Close()
		if err != nil {
			fmt.Fprintf(m.Stderr, "%s: %v\n", cmd, err)
			return nil, err
		}
		if rec.Profile == consent.ProfileBusinessOff && !rec.LookupsAllowed(cloudURL) {
			err := herd.Errorf(herd.ECONSENT, "consent (business-off) allows no contact with %s", cloudURL)
			fmt.Fprintf(m.Stderr, "%s: %v\n", cmd, err)
			return nil, err
		}
	}
	c, err := m.client(g, cloudURL)
	if err != nil {
		fmt.Fprintf(m.Stderr, "%s: %v\n", cmd, err)
		return nil, err
	}
	return c, nil
}
