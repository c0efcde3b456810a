//go:build yara && cgo

package yara

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	goyara "github.com/hillu/go-yara/v4"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/scan"
)

// Supported reports whether this build has YARA support.
const Supported = true

// Engine scans content with a compiled set of YARA rules. It is safe for
// concurrent use: a YARA scanner is not, so each running scan has one of
// its own, taken from a pool of at most Options.Scanners.
type Engine struct {
	opt   Options
	rules *goyara.Rules
	count int
	slots chan struct{}        // one per scan running
	idle  chan *goyara.Scanner // scanners ready for reuse
	mu    sync.RWMutex         // held for reading by scans, for writing by Close
	done  bool                 // closed
	warns []goyara.CompilerMessage
}

var _ scan.Engine = (*Engine)(nil)

// Load compiles the YARA rules of paths (rule files, and folders whose
// .yar and .yara files are read, subfolders included) into one set, all in
// YARA's default namespace, as the yara command does. A rule that does not
// compile gives an EINVALID error naming its file and line, such as
// "yara: rules/bad.yar:3: syntax error, unexpected identifier".
func Load(paths []string, opt Options) (*Engine, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	files, err := ruleFiles(paths)
	if err != nil {
		return nil, err
	}
	c, err := goyara.NewCompiler()
	if err != nil {
		return nil, fmt.Errorf("yara: new compiler: %w", err)
	}
	defer c.Destroy()
	for _, name := range files {
		if err := addFile(c, name); err != nil {
			return nil, err
		}
	}
	rules, err := c.GetRules()
	if err != nil {
		return nil, fmt.Errorf("yara: compile rules: %w", err)
	}
	e := &Engine{
		opt:   opt,
		rules: rules,
		count: len(rules.GetRules()),
		slots: make(chan struct{}, opt.Scanners),
		idle:  make(chan *goyara.Scanner, opt.Scanners),
		warns: c.Warnings,
	}
	return e, nil
}

// addFile compiles one rule file and turns YARA's messages into one error
// that names each problem's file and line.
func addFile(c *goyara.Compiler, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return herd.Errorf(herd.EINVALID, "yara: rules %s: %v", name, unwrapPath(err))
	}
	defer f.Close()
	err = c.AddFile(f, "")
	if err == nil {
		return nil
	}
	if len(c.Errors) == 0 {
		return herd.Errorf(herd.EINVALID, "yara: %s: %v", name, err)
	}
	msgs := make([]string, len(c.Errors))
	for i, m := range c.Errors {
		file := m.Filename
		if file == "" {
			file = name
		}
		msgs[i] = fmt.Sprintf("%s:%d: %s", file, m.Line, m.Text)
	}
	return herd.Errorf(herd.EINVALID, "yara: %s", strings.Join(msgs, "; "))
}

// Name returns "yara".
func (e *Engine) Name() string { return "yara" }

// Rules returns how many rules were compiled.
func (e *Engine) Rules() int { return e.count }

// Warnings returns YARA's warnings about the rules, as "file:line: text"
// (rules that may be slow, for instance).
func (e *Engine) Warnings() []string {
	w := make([]string, len(e.warns))
	for i, m := range e.warns {
		w[i] = fmt.Sprintf("%s:%d: %s", m.Filename, m.Line, m.Text)
	}
	return w
}

// Scan reads r whole (up to MaxSize) and returns the identifier of the
// first rule that matches it, or "". Content over MaxSize gives an
// ETOOLARGE error; a scan over its time limit an EUNAVAILABLE error, or
// the context's error when the context's deadline was the limit.
func (e *Engine) Scan(ctx context.Context, name string, r io.Reader) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	buf, err := readLimited(name, r, e.opt.MaxSize)
	if err != nil {
		return "", err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.done {
		return "", herd.Errorf(herd.EUNAVAILABLE, "yara: %s: engine closed", name)
	}
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-e.slots }()
	s, err := e.scanner()
	if err != nil {
		return "", err
	}
	defer func() { e.idle <- s }()

	timeout := e.opt.Timeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = time.Until(d)
	}
	if timeout <= 0 {
		return "", context.DeadlineExceeded
	}
	// YARA counts whole seconds; 0 would mean no limit.
	s.SetTimeout((timeout + time.Second - 1).Truncate(time.Second))
	var m firstMatch
	s.SetCallback(&m)
	s.SetFlags(goyara.ScanFlagsFastMode)
	if err := s.ScanMem(buf); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		var yerr goyara.Error
		if errors.As(err, &yerr) && yerr == errScanTimeout {
			return "", herd.Errorf(herd.EUNAVAILABLE, "yara: %s: no result within %s", name, timeout.Round(time.Second))
		}
		return "", herd.Errorf(herd.EUNAVAILABLE, "yara: %s: %v", name, err)
	}
	return m.rule, nil
}

// errScanTimeout is libyara's ERROR_SCAN_TIMEOUT (yara/error.h).
const errScanTimeout goyara.Error = 26

// scanner returns an idle scanner, or a new one. Scan holds a slot, so no
// more than Options.Scanners exist.
func (e *Engine) scanner() (*goyara.Scanner, error) {
	select {
	case s := <-e.idle:
		return s, nil
	default:
	}
	s, err := goyara.NewScanner(e.rules)
	if err != nil {
		return nil, fmt.Errorf("yara: new scanner: %w", err)
	}
	return s, nil
}

// Close waits for running scans and frees the rules and scanners. Scans
// after Close fail.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return nil
	}
	e.done = true
	for {
		select {
		case s := <-e.idle:
			s.Destroy()
			continue
		default:
		}
		break
	}
	e.rules.Destroy()
	return nil
}

// firstMatch records the first matching rule and stops the scan there.
type firstMatch struct{ rule string }

func (m *firstMatch) RuleMatching(_ *goyara.ScanContext, r *goyara.Rule) (abort bool, err error) {
	m.rule = r.Identifier()
	return true, nil
}
