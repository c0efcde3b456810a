package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/interop"
	"github.com/herdsec/herd/sigdb"
)

// importBatch is how many verdicts one admin request carries.
const importBatch = httpapi.MaxAdminVerdicts

// importReader reads one file of verdicts to import. name is the file's
// base name, for messages; notes say what was left out and why.
type importReader func(r io.Reader, name string) (vs []httpapi.VerdictInput, notes []string, err error)

// importFormats maps a file extension (lower case) to its reader.
var importFormats = map[string]importReader{
	".hdb":  readSignatures,
	".hsb":  readSignatures,
	".json": readSTIX,
	".csv":  readCSV,
}

const importFormatsHelp = ".hdb or .hsb (ClamAV hash signatures), .json (STIX 2.1 bundle) or .csv (kind,value,verdict,threat,source,updated)"

// verdictImport reads and checks every file completely before sending
// anything, so that a bad item in any file (reported with the file and the
// line or object) imports nothing. Every verdict is stored with source
// import, whatever the file says.
func (m *Main) verdictImport(ctx context.Context, c *httpapi.Client, files []string) error {
	if len(files) == 0 {
		return usageError("verdict import: want FILE...")
	}
	readers := make([]importReader, len(files))
	for i, path := range files {
		ext := strings.ToLower(filepath.Ext(path))
		if readers[i] = importFormats[ext]; readers[i] == nil {
			return herd.Errorf(herd.EINVALID, "nothing imported: %s: unknown file type %q: want %s", path, ext, importFormatsHelp)
		}
	}
	var vs []httpapi.VerdictInput
	var notes []string
	for i, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("nothing imported: %w", err)
		}
		fvs, fnotes, err := readers[i](f, filepath.Base(path))
		f.Close()
		if err != nil {
			return fmt.Errorf("nothing imported: %w", err)
		}
		vs = append(vs, fvs...)
		notes = append(notes, fnotes...)
	}
	stored := 0
	for len(vs) > 0 {
		n := min(len(vs), importBatch)
		res, err := c.SetVerdicts(ctx, vs[:n])
		if err != nil {
			return fmt.Errorf("after %d imported: %w", stored, err)
		}
		stored += res.Stored
		vs = vs[n:]
	}
	for _, n := range notes {
		fmt.Fprintln(m.Stdout, n)
	}
	fmt.Fprintf(m.Stdout, "imported %d verdicts\n", stored)
	return nil
}

func readSignatures(r io.Reader, name string) ([]httpapi.VerdictInput, []string, error) {
	var vs []httpapi.VerdictInput
	err := sigdb.Parse(r, name, func(_ int, s sigdb.Signature) error {
		vs = append(vs, httpapi.VerdictInput{Kind: s.Kind, Value: s.Hash, Verdict: herd.VerdictMalicious, Threat: s.Name, Source: herd.SourceImport})
		return nil
	})
	return vs, nil, err
}

// readSTIX imports the indicators of a bundle; expired ones (valid_until
// before now) are left out with the other skipped objects.
func readSTIX(r io.Reader, name string) ([]httpapi.VerdictInput, []string, error) {
	res, err := interop.DecodeSTIX(r, name, time.Now())
	if err != nil {
		return nil, nil, err
	}
	var notes []string
	for _, reason := range sortedKeys(res.Skipped) {
		notes = append(notes, fmt.Sprintf("%s: skipped %d: %s", name, res.Skipped[reason], reason))
	}
	return verdictInputs(res.Records), notes, nil
}

func readCSV(r io.Reader, name string) ([]httpapi.VerdictInput, []string, error) {
	recs, err := interop.DecodeCSV(r, name)
	return verdictInputs(recs), nil, err
}

func verdictInputs(recs []herd.Record) []httpapi.VerdictInput {
	vs := make([]httpapi.VerdictInput, len(recs))
	for i, r := range recs {
		vs[i] = httpapi.VerdictInput{Kind: r.Object.Kind, Value: r.Object.Value, Verdict: r.Verdict, Threat: r.Threat, Source: herd.SourceImport}
	}
	return slices.Clip(vs)
}
