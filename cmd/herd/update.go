package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/offline"
	"github.com/herdsec/herd/internal/cli"
)

// updateCmd downloads the offline filter into the state folder.
func (m *Main) updateCmd(ctx context.Context, g globals, args []string) int {
	fl := flag.NewFlagSet("herd update", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	cloudFlag := fl.String("cloud", g.cloud, "cloud `URL`")
	if pos, err := cli.Parse(fl, args); err != nil {
		return ExitError
	} else if len(pos) > 0 {
		fmt.Fprintf(m.Stderr, "herd update: unexpected argument %q\n", pos[0])
		return ExitError
	}
	cloudURL := m.cloudURL(g, *cloudFlag)
	c, err := m.cloudClient("herd update", g, cloudURL)
	if err != nil {
		return ExitError
	}
	res, err := offline.Update(ctx, g.state, c)
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		fmt.Fprintf(m.Stderr, "herd update: the cloud at %s serves no offline filter\n", cloudURL)
		return ExitError
	}
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd update:", err)
		return ExitError
	}
	st := res.Info.SetStats
	what := "up to date"
	switch {
	case res.Snapshot && res.Delta:
		what = "downloaded a snapshot and a delta"
	case res.Snapshot:
		what = "downloaded a snapshot"
	case res.Delta:
		what = "downloaded a delta"
	}
	fmt.Fprintf(m.Stdout, "offline filter: %s; generation %d, %d malicious hashes (%d in the snapshot, %d added since), %s, false positives about %.2f%%\n",
		what, st.Generation, st.SnapshotKeys+st.DeltaKeys, st.SnapshotKeys, st.DeltaKeys, sizeText(st.SnapshotBytes+st.DeltaBytes), 100*st.FalsePositiveRate)
	return ExitClean
}

func sizeText(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
