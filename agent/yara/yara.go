// Package yara scans content with YARA rules (libyara through
// github.com/hillu/go-yara/v4). It is one of the agent's optional scanning
// engines (scan.Engine) and needs cgo, libyara 4.2 and the build tag yara;
// without them the package still builds and Load says how to get it.
package yara

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/herdsec/herd"
)

// Defaults of Options.
const (
	DefaultMaxSize = 64 << 20
	DefaultTimeout = time.Minute
	// maxScanners is libyara's limit of scanners running at once on one set
	// of rules (YR_MAX_THREADS).
	maxScanners = 32
)

// Options configure an Engine. The zero value uses the defaults.
type Options struct {
	// MaxSize is the largest content scanned, read into memory whole;
	// 0 means DefaultMaxSize. Content over it is not scanned: Scan
	// returns an ETOOLARGE error.
	MaxSize int64
	// Timeout bounds one scan, on top of the context's deadline; YARA
	// counts it in whole seconds, so it is rounded up. 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Scanners is how many scans run at once (each with its own YARA
	// scanner, reused); others wait. 0 means one per CPU; at most 32.
	Scanners int
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxSize < 0 {
		return o, herd.Errorf(herd.EINVALID, "yara: max size = %d: must be >= 0", o.MaxSize)
	}
	if o.Timeout < 0 {
		return o, herd.Errorf(herd.EINVALID, "yara: timeout = %s: must be >= 0", o.Timeout)
	}
	if o.Scanners < 0 || o.Scanners > maxScanners {
		return o, herd.Errorf(herd.EINVALID, "yara: scanners = %d: must be between 0 and %d", o.Scanners, maxScanners)
	}
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Scanners == 0 {
		o.Scanners = min(runtime.GOMAXPROCS(0), maxScanners)
	}
	return o, nil
}

// ruleFiles returns the rule files named by paths: each file as given, and
// in each folder (and its subfolders) the files ending in .yar or .yara,
// sorted.
func ruleFiles(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, herd.Errorf(herd.EINVALID, "yara: no rule files given")
	}
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, herd.Errorf(herd.EINVALID, "yara: rules %s: %v", p, unwrapPath(err))
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			ext := strings.ToLower(filepath.Ext(path))
			if d.Type().IsRegular() && (ext == ".yar" || ext == ".yara") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, herd.Errorf(herd.EINVALID, "yara: rules folder %s: %v", p, err)
		}
		if len(found) == 0 {
			return nil, herd.Errorf(herd.EINVALID, "yara: rules folder %s: no .yar or .yara files", p)
		}
		slices.Sort(found)
		files = append(files, found...)
	}
	return files, nil
}

// unwrapPath drops the path that *fs.PathError repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readLimited reads r whole if it holds at most limit bytes.
func readLimited(name string, r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("yara: %s: read content: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, herd.Errorf(herd.ETOOLARGE, "yara: %s: over the YARA size limit (%d bytes), not scanned; raise it in the agent's yara settings to scan it", name, limit)
	}
	return b, nil
}
