package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"text/tabwriter"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/internal/cli"
)

// maxSampleDownload bounds a download, whatever the cloud's upload cap.
const maxSampleDownload = 1 << 30

func (m *Main) samplesList(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 0 {
		return usageError("samples list: takes no argument")
	}
	res, err := c.Samples(ctx)
	if err != nil {
		return err
	}
	if len(res.Samples) == 0 {
		fmt.Fprintln(m.Stdout, "no samples")
		return nil
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tSHA256\tTYPE\tSIZE\tDEVICES\tFIRST SEEN\tVERDICT\tTHREAT")
	for _, s := range res.Samples {
		v := string(s.Verdict)
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", s.Status, s.SHA256, s.FileType, s.Size, s.Devices, s.FirstSeen.Format("2006-01-02 15:04Z"), v, s.Threat)
	}
	return tw.Flush()
}

func (m *Main) samplesGet(ctx context.Context, c *httpapi.Client, args []string) error {
	fl := flag.NewFlagSet("herdctl samples get", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	out := fl.String("out", "", "write the sample to `FILE` (mode 0600, never over an existing file); default SHA256.sample")
	pos, err := cli.Parse(fl, args)
	if err != nil {
		return usageError("samples get: " + err.Error())
	}
	if len(pos) != 1 {
		return usageError("samples get: want SHA256 [--out FILE]")
	}
	sha, err := httpapi.ParseSHA256(pos[0])
	if err != nil {
		return usageError("samples get: " + herd.ErrorMessage(err))
	}
	path := *out
	if path == "" {
		path = sha + ".sample"
	}
	b, typ, err := c.Sample(ctx, sha, maxSampleDownload)
	if err != nil {
		return err
	}
	// A sample is likely malware: it is written for the operator alone,
	// not executable, and never over another file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("samples get: %s exists; choose another --out", path)
	}
	if err != nil {
		return fmt.Errorf("samples get: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("samples get: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("samples get: %w", err)
	}
	fmt.Fprintf(m.Stdout, "sample %s (%s, %d bytes) written to %s\n", sha, typ, len(b), path)
	return nil
}

func (m *Main) samplesVerdict(ctx context.Context, c *httpapi.Client, args []string) error {
	fl := flag.NewFlagSet("herdctl samples verdict", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	threat := fl.String("threat", "", "the threat's `NAME`")
	pos, err := cli.Parse(fl, args)
	if err != nil {
		return usageError("samples verdict: " + err.Error())
	}
	if len(pos) != 2 {
		return usageError("samples verdict: want SHA256 malicious|clean|suspicious [--threat NAME]")
	}
	v := herd.Verdict(pos[1])
	if !v.Valid() || v == herd.VerdictUnknown {
		return usageError(fmt.Sprintf("samples verdict: %q: want malicious, clean or suspicious", pos[1]))
	}
	res, err := c.SetSampleVerdict(ctx, pos[0], v, *threat)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "sample %s: %s", res.Sample.SHA256, res.Sample.Verdict)
	if res.Sample.Threat != "" {
		fmt.Fprintf(m.Stdout, " (%s)", res.Sample.Threat)
	}
	fmt.Fprintf(m.Stdout, ", reviewed by %s; served to agents as of change %d\n", res.Sample.Reviewer, res.Seq)
	return nil
}
