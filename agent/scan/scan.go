// Package scan walks folders, hashes each file once and decides each file's
// verdict from the local signature database first and the cloud second;
// the members of archives are hashed and decided the same way, and every
// file and member is also given to the optional content engines.
package scan

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/archive"
)

// LocalDB is a local signature database (sigdb.DB implements it).
type LocalDB interface {
	// Match returns the threat name of a signature matching the digests.
	Match(d *herd.FileDigests) (name string, ok bool)
	// NeedsMD5 and NeedsSHA1 say whether any signature uses those hashes,
	// so that files are not hashed for nothing.
	NeedsMD5() bool
	NeedsSHA1() bool
}

// Filter is the offline filter of malicious SHA-256 hashes (a
// filter.Set): true for every hash malicious when it was built, and for a
// small fraction of others.
type Filter interface {
	Contains(sha256 [32]byte) bool
}

// Filter hits are reported with these threat name and source, and Where
// "filter".
const (
	FilterThreat = "Herd.Filter.PossibleMatch"
	SourceFilter = "filter"
)

// Options configure a scan.
type Options struct {
	DB LocalDB
	// Cloud answers lookups for files the local database does not decide;
	// nil scans with the local database (and Filter) only.
	//
	// A lookup error whose chain holds an Answered() []bool method (the
	// agent cache's PartialError) still carries the records it marks:
	// they are reported, and only the other files count as unanswered.
	Cloud herd.ReputationService
	// Filter, if set, checks the SHA-256 of the files the cloud did not
	// answer (no Cloud, or the cloud unavailable). A hit is reported as
	// suspicious with Where "filter": a possible match, to be confirmed
	// online. Files the cloud answered are not checked: its answer wins.
	Filter Filter
	// Workers hashing files; 0 means one per CPU.
	Workers int
	// CloudBatch is how many files go into one cloud lookup (each file is
	// asked for by its sha256, sha1 and md5). 0 means 333, under the
	// API's 1,000-object limit.
	CloudBatch int
	// Progress, if set, is called from time to time with the files and bytes
	// hashed so far.
	Progress func(files, bytes int64)
	// Archives bounds the walk into archives (zip, tar, gzip, bzip2, xz,
	// nested): an archive is hashed as a file, then each member is hashed
	// and decided like a file and reported as "archive.zip//member". nil
	// uses archive.DefaultLimits(). An archive over the limits is reported
	// as refused (Result.Refused).
	Archives *archive.Limits
	// NoArchives hashes archives as files only, without looking inside.
	NoArchives bool
	// Engines are given every file and archive member as well, in the
	// same pass as the hashing. A threat an engine names is reported as
	// malicious with the engine's name as Source and Where "local"; an
	// engine's error is reported as an error for the file.
	Engines []Engine
}

// Result is one finding: a detection or a file that could not be scanned.
type Result struct {
	Path    string       `json:"path"`
	Verdict herd.Verdict `json:"verdict,omitempty"`
	Threat  string       `json:"threat,omitempty"`
	Source  string       `json:"source,omitempty"` // local-db, filter, or the cloud's source (operator, import, builtin)
	Where   string       `json:"where,omitempty"`  // "local", "cloud" or "filter" (a possible match, unconfirmed)
	Test    bool         `json:"test,omitempty"`
	SHA256  string       `json:"sha256,omitempty"`
	Err     string       `json:"error,omitempty"`
	// Refused: Err says why an archive was not walked to its end (a
	// possible zip bomb, a member name escaping the archive).
	Refused bool `json:"refused,omitempty"`
}

// Summary totals a scan.
type Summary struct {
	Files         int64         `json:"files"`
	Bytes         int64         `json:"bytes"`
	Detections    int64         `json:"detections"`
	Errors        int64         `json:"errors"`
	LocalHits     int64         `json:"local_detections"`
	CloudAsked    int64         `json:"cloud_files_checked"`
	CloudFailed   bool          `json:"cloud_unavailable"`
	CloudError    string        `json:"cloud_error,omitempty"`
	FilterChecked int64         `json:"filter_files_checked,omitempty"`    // files checked against the offline filter
	FilterHits    int64         `json:"filter_possible_matches,omitempty"` // its possible matches, also counted in Detections
	Members       int64         `json:"archive_members,omitempty"`         // archive members hashed (not counted in Files and Bytes)
	Refused       int64         `json:"archives_refused,omitempty"`        // archives refused, also counted in Errors
	Duration      time.Duration `json:"duration_ns"`
}

type hashed struct {
	path string
	d    herd.FileDigests
}

// Scan scans the given paths (files or folders, walked recursively without
// following symbolic links) and calls report for every detection and every
// error, from one goroutine at a time.
func Scan(ctx context.Context, paths []string, opt Options, report func(Result)) (Summary, error) {
	start := time.Now()
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.CloudBatch <= 0 || opt.CloudBatch > 333 {
		opt.CloudBatch = 333
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var sum Summary
	results := make(chan Result, 64)
	files := make(chan string, 256)
	undecided := make(chan hashed, 1024)
	var progress struct {
		sync.Mutex
		files, bytes int64
	}

	go func() { // walk
		defer close(files)
		for _, root := range paths {
			// A link named on the command line is followed (as ClamAV
			// does); links met while walking are not.
			if fi, err := os.Lstat(root); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				if target, err := filepath.EvalSymlinks(root); err == nil {
					root = target
				}
			}
			err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					results <- Result{Path: path, Err: err.Error()}
					if d != nil && d.IsDir() {
						return fs.SkipDir
					}
					return nil
				}
				if !d.Type().IsRegular() {
					return nil
				}
				select {
				case files <- path:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if err != nil && ctx.Err() != nil {
				return
			}
		}
	}()

	// SHA-256 always; MD5 and SHA-1 only when the local database has such
	// signatures or the cloud is asked (it may hold imported MD5/SHA-1
	// verdicts). They cost more CPU than SHA-256 with hardware support.
	md5On, sha1On := opt.Cloud != nil, opt.Cloud != nil
	if opt.DB != nil {
		md5On = md5On || opt.DB.NeedsMD5()
		sha1On = sha1On || opt.DB.NeedsSHA1()
	}
	lim := archive.DefaultLimits()
	if opt.Archives != nil {
		lim = *opt.Archives
	}
	var members int64 // archive members hashed, under progress's lock
	var workers sync.WaitGroup
	for range opt.Workers {
		workers.Go(func() {
			h := newHasher(md5On, sha1On)
			// decide reports what the local database and the engines found
			// and passes what is left to the cloud.
			decide := func(path string, d herd.FileDigests, found []Result) {
				for _, r := range found {
					if r.Err == "" {
						r.SHA256 = hex.EncodeToString(d.SHA256[:])
					}
					results <- r
				}
				if opt.DB != nil {
					if name, ok := opt.DB.Match(&d); ok {
						results <- Result{Path: path, Verdict: herd.VerdictMalicious, Threat: name, Source: herd.SourceLocalDB, Where: "local", Test: name == herd.EICARThreat, SHA256: hex.EncodeToString(d.SHA256[:])}
						return
					}
				}
				if opt.Cloud != nil || opt.Filter != nil {
					undecided <- hashed{path, d}
				}
			}
			for path := range files {
				f, err := os.Open(path)
				if err != nil {
					results <- Result{Path: path, Err: err.Error()}
					continue
				}
				d, found, err := h.scan(ctx, path, f, opt.Engines)
				if err != nil {
					f.Close()
					results <- Result{Path: path, Err: err.Error()}
					continue
				}
				progress.Lock()
				progress.files++
				progress.bytes += d.Size
				progress.Unlock()
				decide(path, d, found)
				if opt.NoArchives || archive.Detect(h.head) == archive.None {
					f.Close()
					continue
				}
				err = archive.Walk(ctx, path, f, d.Size, lim, func(m archive.Member, r io.Reader) error {
					d, found, err := h.scan(ctx, m.Path, r, opt.Engines)
					if err != nil {
						return err
					}
					progress.Lock()
					members++
					progress.Unlock()
					decide(m.Path, d, found)
					return nil
				})
				f.Close()
				if err != nil && ctx.Err() == nil {
					var refused *archive.RefusedError
					results <- Result{Path: path, Err: err.Error(), Refused: errors.As(err, &refused)}
				}
			}
		})
	}
	go func() {
		workers.Wait()
		close(undecided)
	}()

	var cloudDone = make(chan struct{})
	var cloudErr error
	var cloudAsked, filterChecked int64
	go func() { // ask the cloud in batches
		defer close(cloudDone)
		batch := make([]hashed, 0, opt.CloudBatch)
		// cloudDown: the cloud failed and no cache answers for it; the
		// rest of the files go to the filter without asking again.
		cloudDown := opt.Cloud == nil
		flush := func() {
			unanswered := batch
			if len(batch) > 0 && !cloudDown {
				var err error
				unanswered, err = askCloud(ctx, opt.Cloud, batch, results)
				if err == nil {
					cloudAsked += int64(len(batch))
				} else if cloudErr == nil {
					cloudErr = err // the first failure says why
				}
				// Without answers from a cache, asking again is futile.
				cloudDown = err != nil && !isPartial(err)
			}
			if opt.Filter != nil && ctx.Err() == nil {
				for _, h := range unanswered {
					filterChecked++
					if opt.Filter.Contains(h.d.SHA256) {
						results <- Result{Path: h.path, Verdict: herd.VerdictSuspicious, Threat: FilterThreat, Source: SourceFilter, Where: "filter", SHA256: hex.EncodeToString(h.d.SHA256[:])}
					}
				}
			}
			batch = batch[:0]
		}
		for h := range undecided {
			batch = append(batch, h)
			if len(batch) == opt.CloudBatch {
				flush()
			}
		}
		flush()
	}()
	go func() {
		<-cloudDone
		close(results)
	}()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for results != nil {
		select {
		case r, ok := <-results:
			if !ok {
				results = nil
				break
			}
			if r.Err != "" {
				sum.Errors++
				if r.Refused {
					sum.Refused++
				}
			} else {
				sum.Detections++
				switch r.Where {
				case "local":
					sum.LocalHits++
				case "filter":
					sum.FilterHits++
				}
			}
			report(r)
		case <-tick.C:
			if opt.Progress != nil {
				progress.Lock()
				f, b := progress.files, progress.bytes
				progress.Unlock()
				opt.Progress(f, b)
			}
		}
	}
	sum.Files, sum.Bytes, sum.Members = progress.files, progress.bytes, members
	if opt.Progress != nil {
		opt.Progress(sum.Files, sum.Bytes)
	}
	sum.CloudAsked, sum.FilterChecked = cloudAsked, filterChecked
	if cloudErr != nil {
		sum.CloudFailed, sum.CloudError = true, herd.ErrorMessage(cloudErr)
	}
	sum.Duration = time.Since(start)
	return sum, ctx.Err()
}

// answered is implemented by lookup errors that still carry answers for
// some objects (the agent cache's PartialError).
type answered interface {
	Answered() []bool
}

func isPartial(err error) bool {
	var a answered
	return errors.As(err, &a)
}

// askCloud looks up a batch of files by all three hashes and reports the
// worst verdict of each file that is malicious or suspicious. It returns
// the files whose SHA-256 got no answer: none on success, all of them on
// an error without answers, the files the cache did not answer on a
// partial error.
func askCloud(ctx context.Context, cloud herd.ReputationService, batch []hashed, results chan<- Result) ([]hashed, error) {
	objs := make([]herd.Object, 0, 3*len(batch))
	for _, h := range batch {
		objs = append(objs,
			herd.Object{Kind: herd.KindSHA256, Value: hex.EncodeToString(h.d.SHA256[:])},
			herd.Object{Kind: herd.KindSHA1, Value: hex.EncodeToString(h.d.SHA1[:])},
			herd.Object{Kind: herd.KindMD5, Value: hex.EncodeToString(h.d.MD5[:])})
	}
	recs, err := cloud.Lookup(ctx, objs)
	var ok []bool // nil: every record is an answer
	if err != nil {
		var a answered
		if !errors.As(err, &a) || len(a.Answered()) != len(objs) || len(recs) != len(objs) {
			return batch, err
		}
		ok = a.Answered()
	} else if len(recs) != len(objs) {
		return batch, herd.Errorf(herd.EUNAVAILABLE, "cloud lookup: %d answers for %d objects", len(recs), len(objs))
	}
	var unanswered []hashed
	for i, h := range batch {
		var worst *herd.Record
		for j := 3 * i; j < 3*i+3; j++ {
			if (ok == nil || ok[j]) && (worst == nil || recs[j].Verdict.Severity() > worst.Verdict.Severity()) {
				worst = &recs[j]
			}
		}
		switch {
		case worst != nil && (worst.Verdict == herd.VerdictMalicious || worst.Verdict == herd.VerdictSuspicious):
			results <- Result{Path: h.path, Verdict: worst.Verdict, Threat: worst.Threat, Source: worst.Source, Where: "cloud", Test: worst.Test, SHA256: objs[3*i].Value}
		case ok != nil && !ok[3*i]:
			unanswered = append(unanswered, h)
		}
	}
	return unanswered, err
}

// hasher computes the three digests of a file in one streaming pass with
// a fixed buffer, so memory stays bounded whatever the file size.
type hasher struct {
	sha256, sha1, md5 hash.Hash // sha1 and md5 are nil when not wanted
	buf, sum          []byte
	// head holds the first archive.HeadSize bytes of the last input, to
	// tell archives from other files without reading them again.
	head []byte
}

func newHasher(withMD5, withSHA1 bool) *hasher {
	h := &hasher{sha256: sha256.New(), buf: make([]byte, 256<<10), sum: make([]byte, 0, 32), head: make([]byte, 0, archive.HeadSize)}
	if withMD5 {
		h.md5 = md5.New()
	}
	if withSHA1 {
		h.sha1 = sha1.New()
	}
	return h
}

// hashFile hashes the file at path.
func (h *hasher) hashFile(path string) (herd.FileDigests, error) {
	f, err := os.Open(path)
	if err != nil {
		return herd.FileDigests{}, err
	}
	defer f.Close()
	return h.hash(f)
}

func (h *hasher) hash(r io.Reader) (herd.FileDigests, error) {
	var d herd.FileDigests
	h.sha256.Reset()
	if h.sha1 != nil {
		h.sha1.Reset()
	}
	if h.md5 != nil {
		h.md5.Reset()
	}
	h.head = h.head[:0]
	for {
		n, err := r.Read(h.buf)
		if n > 0 {
			b := h.buf[:n]
			if len(h.head) < cap(h.head) {
				h.head = append(h.head, b[:min(n, cap(h.head)-len(h.head))]...)
			}
			h.sha256.Write(b)
			if h.sha1 != nil {
				h.sha1.Write(b)
			}
			if h.md5 != nil {
				h.md5.Write(b)
			}
			d.Size += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return d, err
		}
	}
	// Summing into a scratch slice keeps d off the heap.
	copy(d.SHA256[:], h.sha256.Sum(h.sum[:0]))
	if h.sha1 != nil {
		copy(d.SHA1[:], h.sha1.Sum(h.sum[:0]))
		d.HaveSHA1 = true
	}
	if h.md5 != nil {
		copy(d.MD5[:], h.md5.Sum(h.sum[:0]))
		d.HaveMD5 = true
	}
	return d, nil
}

// scan hashes r and, in the same pass, gives it to every engine, each
// reading its own copy through a pipe. found holds the engines' threats
// and errors (SHA256 left for the caller); on a read error the engines'
// findings are dropped, since the content was not read whole.
func (h *hasher) scan(ctx context.Context, name string, r io.Reader, engines []Engine) (d herd.FileDigests, found []Result, err error) {
	if len(engines) == 0 {
		d, err = h.hash(r)
		return d, nil, err
	}
	feeds := make([]*io.PipeWriter, len(engines))
	answers := make([]Result, len(engines))
	var wg sync.WaitGroup
	for i, e := range engines {
		pr, pw := io.Pipe()
		feeds[i] = pw
		wg.Go(func() {
			threat, err := e.Scan(ctx, name, pr)
			// An engine that decided early reads no more: later writes
			// to its pipe fail and the feed stops writing to it.
			pr.CloseWithError(errEngineDone)
			switch {
			case err != nil:
				answers[i] = Result{Path: name, Err: fmt.Sprintf("engine %s: %v", e.Name(), err)}
			case threat != "":
				answers[i] = Result{Path: name, Verdict: herd.VerdictMalicious, Threat: threat, Source: e.Name(), Where: "local"}
			}
		})
	}
	d, err = h.hash(io.TeeReader(r, fanout(slices.Clone(feeds))))
	for _, pw := range feeds {
		if err != nil {
			pw.CloseWithError(err)
		} else {
			pw.Close()
		}
	}
	wg.Wait()
	if err != nil {
		return d, nil, err
	}
	for _, a := range answers {
		if a.Path != "" {
			found = append(found, a)
		}
	}
	return d, found, nil
}

var errEngineDone = errors.New("engine finished reading")

// fanout writes to every pipe whose engine is still reading; it never
// fails, so one engine stopping early does not stop the others or the
// hashing.
type fanout []*io.PipeWriter

func (f fanout) Write(p []byte) (int, error) {
	for i, pw := range f {
		if pw == nil {
			continue
		}
		if _, err := pw.Write(p); err != nil {
			f[i] = nil
		}
	}
	return len(p), nil
}
