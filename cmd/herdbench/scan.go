package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herdsec/herd/sigdb"
)

// ScanResults are the figures of scanning the corpus.
type ScanResults struct {
	Corpus CorpusInfo   `json:"corpus"`
	DB     DBInfo       `json:"db"`
	DBLoad DBLoad       `json:"db_load"`
	Tools  []ToolResult `json:"tools"`
	// HerdVsClamscan is herd's throughput over clamscan's (best runs);
	// 0 if clamscan did not run.
	HerdVsClamscan float64 `json:"herd_vs_clamscan_throughput,omitempty"`
	// RSSSource says where the peak RSS figures come from.
	RSSSource string `json:"rss_source"`
}

// CorpusInfo describes the scanned corpus.
type CorpusInfo struct {
	Dir       string `json:"dir"`
	Files     int    `json:"files"`
	Bytes     int64  `json:"bytes"`
	Seed      uint64 `json:"seed"`
	EICAR     int    `json:"eicar_files"`
	MatchFile string `json:"db_match_file"` // the file the database has a signature for
	Reused    bool   `json:"reused"`
}

// DBInfo describes the signature database the scanners load.
type DBInfo struct {
	Path       string `json:"path"`
	Signatures int    `json:"signatures"`
	Bytes      int64  `json:"bytes"`
}

// DBLoad is the cost of loading the database into sigdb, in-process.
type DBLoad struct {
	Runs        []float64 `json:"runs_s"`
	Best        float64   `json:"best_s"`
	Median      float64   `json:"median_s"`
	Retained    int64     `json:"retained_bytes"` // live heap the loaded DB holds
	BytesPerSig float64   `json:"bytes_per_signature"`
}

// ToolResult is one scanner's timing over the corpus.
type ToolResult struct {
	Name    string    `json:"name"`
	Command string    `json:"command"`
	Status  string    `json:"status"` // ok, not installed, or the error
	Runs    []float64 `json:"runs_s,omitempty"`
	Best    float64   `json:"best_s,omitempty"`
	Median  float64   `json:"median_s,omitempty"`
	// Throughput of the best run.
	FilesPerSec float64 `json:"files_per_s,omitempty"`
	MBPerSec    float64 `json:"mb_per_s,omitempty"`
	CPU         float64 `json:"cpu_s,omitempty"`     // user+system of the best run, children included
	PeakRSS     int64   `json:"peak_rss_bytes"`      // the largest of the runs
	Detections  int     `json:"detections"`          // -1: the tool does not detect
	Expected    int     `json:"expected_detections"` // -1: no expectation
}

// scanner is a command timed over the corpus.
type scanner struct {
	name     string
	argv     []string
	okExit   func(code int) bool
	count    func(stdout []byte) int // detections in the output
	expected int
}

func runScan(ctx context.Context, p Plan, out string, bin Binaries, logf func(string, ...any)) (*ScanResults, error) {
	dir := filepath.Join(out, p.CorpusDir)
	logf("corpus: %d files, %d bytes in %s", p.Corpus.Files, p.Corpus.Bytes, dir)
	m, reused, err := ensureCorpus(dir, dir+".manifest.json", p.Corpus)
	if err != nil {
		return nil, err
	}
	res := &ScanResults{Corpus: CorpusInfo{Dir: dir, Files: len(m.Files), Bytes: m.Bytes(), Seed: p.Corpus.Seed, EICAR: eicarFiles, MatchFile: m.Files[m.Match].Path, Reused: reused}}

	hsb := filepath.Join(out, p.DBFile)
	logf("signature database: %d lines in %s", p.Signatures+1, hsb)
	if res.DB, err = writeBenchDB(hsb, p.Signatures, m.Files[m.Match]); err != nil {
		return nil, err
	}
	logf("loading the database in-process")
	if res.DBLoad, err = measureDBLoad(hsb, 3); err != nil {
		return nil, err
	}
	logf("warming the page cache")
	if err := warmCache(dir, &m); err != nil {
		return nil, err
	}
	_, err = os.Stat(gnuTime)
	timeV := err == nil
	res.RSSSource = rssSource(timeV)
	res.Tools = timeScanners(ctx, scanners(bin, hsb, dir), p.ScanRuns, timeV, &m, logf)
	if h, c := res.Tools[0], res.Tools[2]; h.FilesPerSec > 0 && c.FilesPerSec > 0 {
		res.HerdVsClamscan = h.FilesPerSec / c.FilesPerSec
	}
	return res, nil
}

// scanners are herd, sha256sum (the cost of reading and hashing alone) and
// clamscan, in this order.
func scanners(bin Binaries, hsb, dir string) []scanner {
	found := func(code int) bool { return code == 0 || code == 1 } // 1: something found
	herdDetections := regexp.MustCompile(`(?m)^Detections:\s+(\d+)$`)
	return []scanner{{
		name: "herd scan",
		// The cloud address is a closed port: --no-cloud must keep herd off it.
		argv:   []string{bin.Herd, "--cloud", "http://127.0.0.1:1", "scan", "--no-cloud", "--db", hsb, dir},
		okExit: found,
		count: func(out []byte) int {
			if m := herdDetections.FindSubmatch(out); m != nil {
				n, _ := strconv.Atoi(string(m[1]))
				return n
			}
			return -1
		},
		expected: eicarFiles + 1,
	}, {
		name:     "sha256sum",
		argv:     []string{"sh", "-c", `find "$1" -type f -print0 | xargs -0 sha256sum > /dev/null`, "sh", dir},
		okExit:   func(code int) bool { return code == 0 },
		count:    func([]byte) int { return -1 },
		expected: -1,
	}, {
		name:   "clamscan",
		argv:   []string{"clamscan", "--no-summary", "-r", "-d", hsb, dir},
		okExit: found,
		count:  func(out []byte) int { return bytes.Count(out, []byte(" FOUND\n")) },
		// The bench database has no EICAR signature: only the corpus match.
		expected: 1,
	}}
}

// timeScanners runs every scanner runs times, in rounds, so that a change
// of the machine's load during the benchmark touches all of them alike.
func timeScanners(ctx context.Context, ss []scanner, runs int, timeV bool, m *Manifest, logf func(string, ...any)) []ToolResult {
	res := make([]ToolResult, len(ss))
	cpu := make([][]float64, len(ss))
	for i, s := range ss {
		res[i] = ToolResult{Name: s.name, Command: shellQuote(s.argv), Status: "ok", Expected: s.expected, Detections: -1}
		if _, err := exec.LookPath(s.argv[0]); err != nil {
			res[i].Status = "not installed"
		}
	}
	for r := range runs {
		for i, s := range ss {
			if res[i].Status != "ok" {
				continue
			}
			logf("%s: run %d of %d", s.name, r+1, runs)
			er, err := timeCommand(ctx, s.argv, timeV)
			if err == nil && !s.okExit(er.exit) {
				err = fmt.Errorf("exit status %d: %s", er.exit, firstLine(er.stderr))
			}
			if err != nil {
				res[i].Status = "error: " + err.Error()
				continue
			}
			res[i].Runs = append(res[i].Runs, er.wall.Seconds())
			cpu[i] = append(cpu[i], er.cpu.Seconds())
			res[i].PeakRSS = max(res[i].PeakRSS, er.maxRSS)
			res[i].Detections = s.count(er.stdout)
		}
	}
	for i := range res {
		t := &res[i]
		if t.Status != "ok" || len(t.Runs) == 0 {
			continue
		}
		best := slices.Index(t.Runs, slices.Min(t.Runs))
		t.Best, t.Median, t.CPU = t.Runs[best], median(t.Runs), cpu[i][best]
		t.FilesPerSec = float64(len(m.Files)) / t.Best
		t.MBPerSec = float64(m.Bytes()) / 1e6 / t.Best
	}
	return res
}

type execResult struct {
	wall, cpu      time.Duration
	maxRSS         int64
	exit           int
	stdout, stderr []byte
}

// gnuTime measures peak RSS right. A child's ru_maxrss cannot: Go starts
// children with vfork, so the kernel counts the parent's resident memory
// at exec time into the child's peak. /usr/bin/time forks from a small
// process, where that does not matter.
const gnuTime = "/usr/bin/time"

func rssSource(timeV bool) string {
	if timeV {
		return gnuTime + " -v"
	}
	return "wait4 ru_maxrss: an upper bound, it includes herdbench's own RSS when it started the tool"
}

// timeCommand runs argv and measures its wall-clock time from start to
// exit, its CPU time and its peak RSS, children included. With timeV the
// command runs under /usr/bin/time -v, whose report gives the peak RSS.
func timeCommand(ctx context.Context, argv []string, timeV bool) (execResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if timeV {
		argv = append([]string{gnuTime, "-v"}, argv...)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := execResult{wall: time.Since(start), stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	if cmd.ProcessState == nil {
		return r, err // did not start
	}
	if ctx.Err() != nil {
		return r, fmt.Errorf("%s: %w", argv[0], ctx.Err())
	}
	r.exit = cmd.ProcessState.ExitCode()
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r.maxRSS = maxRSS(cmd.ProcessState)
	if timeV {
		if r.maxRSS, err = timeVMaxRSS(r.stderr); err != nil {
			return r, err
		}
	}
	return r, nil
}

// timeVMaxRSS returns the "Maximum resident set size" of /usr/bin/time -v's
// report, in bytes.
func timeVMaxRSS(stderr []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(stderr))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Maximum resident set size (kbytes):"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("%s -v: no maximum resident set size in its report", gnuTime)
}

// writeBenchDB writes n deterministic signatures and one more for the
// corpus file match, so that the scanners' detections include a real
// database hit. It is rewritten each run: that is as cheap as checking it.
func writeBenchDB(path string, n int, match CorpusFile) (DBInfo, error) {
	f, err := os.Create(path)
	if err != nil {
		return DBInfo{}, err
	}
	if err := sigdb.WriteBenchHSB(f, n); err != nil {
		f.Close()
		return DBInfo{}, err
	}
	if _, err := fmt.Fprintf(f, "%s:%d:Herd.Bench.CorpusMatch\n", match.SHA256, match.Size); err != nil {
		f.Close()
		return DBInfo{}, err
	}
	if err := f.Close(); err != nil {
		return DBInfo{}, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return DBInfo{}, err
	}
	return DBInfo{Path: path, Signatures: n + 1, Bytes: st.Size()}, nil
}

// measureDBLoad loads the database runs times for the time, then once
// more between two collections for the heap it keeps.
func measureDBLoad(path string, runs int) (DBLoad, error) {
	var r DBLoad
	for range runs {
		runtime.GC() // of the last run's garbage, which is not this run's
		start := time.Now()
		if err := sigdb.New().LoadFile(path); err != nil {
			return r, err
		}
		r.Runs = append(r.Runs, time.Since(start).Seconds())
	}
	r.Best, r.Median = slices.Min(r.Runs), median(r.Runs)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	db := sigdb.New()
	if err := db.LoadFile(path); err != nil {
		return r, err
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	r.Retained = int64(after.HeapAlloc) - int64(before.HeapAlloc)
	r.BytesPerSig = float64(r.Retained) / float64(db.Len())
	runtime.KeepAlive(db)
	return r, nil
}

// warmCache reads every corpus file once, so that all scanners find them
// in the page cache and none pays for the disk alone.
func warmCache(dir string, m *Manifest) error {
	buf := make([]byte, 1<<20)
	for _, f := range m.Files {
		fh, err := os.Open(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{fh}, buf) // 1 MiB reads, not 8 KiB
		fh.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line
}

// shellQuote renders argv as a command to paste into a shell.
func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}
