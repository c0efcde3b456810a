package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/internal/cli"
	"github.com/herdsec/herd/interop"
)

// verdictExport writes every verdict the cloud stores, sorted by object so
// that exports of the same verdicts are identical files.
func (m *Main) verdictExport(ctx context.Context, c *httpapi.Client, args []string) error {
	fl := flag.NewFlagSet("herdctl verdict export", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	format := fl.String("format", "", "`stix` (a STIX 2.1 bundle) or csv")
	out := fl.String("out", "", "write to `FILE` instead of standard output")
	pos, err := cli.Parse(fl, args)
	if err != nil {
		return usageError("verdict export: " + err.Error())
	}
	if len(pos) != 0 {
		return usageError("verdict export: want --format stix|csv [--out FILE]")
	}
	f := *format
	if f == "" {
		f = map[string]string{".json": "stix", ".csv": "csv"}[strings.ToLower(filepath.Ext(*out))]
	}
	var encode func(io.Writer, []herd.Record) error
	switch f {
	case "stix":
		encode = interop.EncodeSTIX
	case "csv":
		encode = interop.EncodeCSV
	case "":
		return usageError("verdict export: want --format stix or csv")
	default:
		return usageError(fmt.Sprintf("verdict export: format %q: want stix or csv", f))
	}

	recs, err := storedVerdicts(ctx, c)
	if err != nil {
		return err
	}
	interop.SortByObject(recs)
	if *out == "" {
		return encode(m.Stdout, recs)
	}
	if err := writeFileAtomic(*out, func(w io.Writer) error { return encode(w, recs) }); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "exported %d verdicts to %s\n", len(recs), *out)
	return nil
}

var errCaughtUp = errors.New("caught up")

// storedVerdicts reads the public verdict change stream from its start to
// its caught-up mark: every stored verdict, without deleted ones and
// without the built-in test verdicts (which the stream does not carry).
func storedVerdicts(ctx context.Context, c *httpapi.Client) ([]herd.Record, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	current := map[herd.Object]herd.Record{}
	_, err := c.Stream(ctx, 0, func(ch herd.VerdictChange) error {
		switch {
		case ch.CaughtUp:
			return errCaughtUp
		case ch.Deleted:
			delete(current, ch.Record.Object)
		case !ch.Record.Test:
			current[ch.Record.Object] = ch.Record
		}
		return nil
	})
	if !errors.Is(err, errCaughtUp) {
		if err == nil {
			err = herd.Errorf(herd.EUNAVAILABLE, "the stream ended before it caught up")
		}
		return nil, fmt.Errorf("read verdicts: %w", err)
	}
	recs := make([]herd.Record, 0, len(current))
	for _, r := range current {
		recs = append(recs, r)
	}
	return recs, nil
}

// writeFileAtomic writes path through a temporary file in its folder, so
// that a failed export leaves an earlier file as it was.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	err = write(f)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
