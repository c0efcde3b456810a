package interop

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/herdsec/herd"
)

// CSVHeader is the header line EncodeCSV writes.
var CSVHeader = []string{"kind", "value", "verdict", "threat", "source", "updated"}

// EncodeCSV writes recs, in order, as CSV under CSVHeader; updated is
// RFC 3339 in UTC, empty for a zero time. A field that a spreadsheet
// would run as a formula (it starts with = + - @) is written with a ' in
// front, as is one that starts with ', and DecodeCSV removes it again: a
// threat name reported by a device cannot become a formula in the
// operator's spreadsheet. Objects are written normalized; a record that
// would not decode again (Record.Validate) is an error and nothing is
// written.
func EncodeCSV(w io.Writer, recs []herd.Record) error {
	recs = slices.Clone(recs)
	for i, r := range recs {
		r, err := checkRecord(i, r)
		if err != nil {
			return err
		}
		recs[i] = r
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, r := range recs {
		updated := ""
		if !r.Updated.IsZero() {
			updated = r.Updated.UTC().Format(time.RFC3339Nano)
		}
		if err := cw.Write([]string{string(r.Object.Kind), defuse(r.Object.Value), string(r.Verdict), defuse(r.Threat), defuse(r.Source), updated}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// formulaStart holds the first characters that make spreadsheets read a
// cell as a formula, and the quote that escapes them.
const formulaStart = "=+-@'"

func defuse(s string) string {
	if s != "" && strings.IndexByte(formulaStart, s[0]) >= 0 {
		return "'" + s
	}
	return s
}

func undefuse(s string) string {
	if len(s) >= 2 && s[0] == '\'' && strings.IndexByte(formulaStart, s[1]) >= 0 {
		return s[1:]
	}
	return s
}

// DecodeCSV reads verdicts written by EncodeCSV or by hand. The first line
// names the columns, in any order: kind, value and verdict are required,
// threat, source and updated optional (absent means empty). Each line's
// object is normalized; verdict is malicious, suspicious or clean. A bad
// line is an *herd.Error (EINVALID) whose message names the file and line,
// e.g. `feed.csv:7: verdict "evil": want malicious, suspicious or clean`,
// and no records are returned. name is the file's name, for messages.
func DecodeCSV(r io.Reader, name string) ([]herd.Record, error) {
	br := bufio.NewReader(r)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		br.Discard(3) // the byte-order mark spreadsheets write
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	lineErr := func(line int, format string, args ...any) error {
		return herd.Errorf(herd.EINVALID, "%s:%d: %s", name, line, fmt.Sprintf(format, args...))
	}
	readErr := func(err error) error {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return lineErr(pe.Line, "%v", pe.Err)
		}
		return fmt.Errorf("read %s: %w", name, err)
	}

	header, err := cr.Read()
	if err == io.EOF {
		return nil, herd.Errorf(herd.EINVALID, "%s: empty: want the header %s", name, strings.Join(CSVHeader, ","))
	}
	if err != nil {
		return nil, readErr(err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := col[h]; dup {
			return nil, lineErr(1, "header: column %q twice", clip(h))
		}
		known := false
		for _, k := range CSVHeader {
			known = known || h == k
		}
		if !known {
			return nil, lineErr(1, "header: unknown column %q (want %s)", clip(h), strings.Join(CSVHeader, ","))
		}
		col[h] = i
	}
	for _, k := range CSVHeader[:3] {
		if _, ok := col[k]; !ok {
			return nil, lineErr(1, "header: no %s column (want %s)", k, strings.Join(CSVHeader, ","))
		}
	}
	field := func(row []string, k string) string {
		if i, ok := col[k]; ok {
			return row[i]
		}
		return ""
	}

	var recs []herd.Record
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return nil, readErr(err)
		}
		line, _ := cr.FieldPos(0)
		obj, err := herd.Object{Kind: herd.Kind(strings.TrimSpace(field(row, "kind"))), Value: undefuse(field(row, "value"))}.Normalize()
		if err != nil {
			return nil, lineErr(line, "%s", herd.ErrorMessage(err))
		}
		rec := herd.Record{Object: obj, Verdict: herd.Verdict(strings.TrimSpace(field(row, "verdict"))), Threat: undefuse(field(row, "threat")), Source: undefuse(field(row, "source"))}
		if rec.Verdict != herd.VerdictMalicious && rec.Verdict != herd.VerdictSuspicious && rec.Verdict != herd.VerdictClean {
			return nil, lineErr(line, "verdict %q: want malicious, suspicious or clean", clip(string(rec.Verdict)))
		}
		if err := rec.Validate(); err != nil {
			return nil, lineErr(line, "%s", herd.ErrorMessage(err))
		}
		if err := checkSource(rec.Source); err != nil {
			return nil, lineErr(line, "%s", herd.ErrorMessage(err))
		}
		if s := strings.TrimSpace(field(row, "updated")); s != "" {
			if rec.Updated, err = parseTime(s); err != nil {
				return nil, lineErr(line, "updated %s", herd.ErrorMessage(err))
			}
		}
		recs = append(recs, rec)
	}
}
