// Package fswatch tells the agent when a file under the watched folders has
// been written and closed: fanotify where the kernel permits it (root, or
// CAP_SYS_ADMIN), inotify otherwise.
//
// fanotify marks the filesystems that hold the watched folders (the mounts,
// on kernels before 4.20) and reports every close-after-write on them, with
// the writer's pid, and needs no watch per folder; events outside the
// folders are dropped. It does not see other filesystems mounted below a
// watched folder, nor files moved in: New runs inotify beside it for those. inotify watches each folder (new ones as they
// appear) and reports writes closed and files moved in; a folder created and
// filled before its watch was added is walked once, so files written then
// are reported too. Either may lose events when the kernel's queue overflows;
// both then report ErrOverflow, and the caller scans the folders again.
package fswatch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ErrOverflow is sent on Errors when the kernel dropped events: files
// written meanwhile were not reported.
var ErrOverflow = errors.New("fswatch: the kernel's event queue overflowed; events were lost")

// Event is a file written and closed, or moved into a watched folder.
type Event struct {
	Path string
	Pid  int // the writer's process id (fanotify), or 0
}

// Watcher reports file events until closed.
type Watcher interface {
	// Events delivers events; it is closed after Close.
	Events() <-chan Event
	// Errors delivers failures that do not stop the watcher (ErrOverflow,
	// a folder that cannot be watched).
	Errors() <-chan error
	// Kind is "fanotify" or "inotify".
	Kind() string
	Close() error
}

// New watches the folders with fanotify if permitted (with inotify beside
// it for files moved in), else with inotify alone.
// The error from fanotify, if any, is returned as fallback so the caller can
// say why real-time protection runs on inotify.
func New(dirs []string) (w Watcher, fallback error, err error) {
	clean, err := cleanDirs(dirs)
	if err != nil {
		return nil, nil, err
	}
	fa, err := NewFanotify(clean)
	if err != nil {
		w, ierr := NewInotify(clean)
		return w, err, ierr
	}
	// fanotify's close-after-write events do not include files moved in
	// (a download renamed at its end): inotify reports those beside it.
	moves, err := newMoves(clean)
	if err != nil {
		fa.Close()
		return nil, nil, err
	}
	return merge(fa, moves), nil, nil
}

// merged is two watchers as one; its kind is the first's.
type merged struct {
	a, b   Watcher
	events chan Event
	errs   chan error
	done   chan struct{}
	once   sync.Once
}

func merge(a, b Watcher) Watcher {
	m := &merged{a: a, b: b, events: make(chan Event, 256), errs: make(chan error, 16), done: make(chan struct{})}
	var wg sync.WaitGroup
	for _, w := range []Watcher{a, b} {
		wg.Go(func() {
			for {
				select {
				case e, ok := <-w.Events():
					if !ok {
						return
					}
					select {
					case m.events <- e:
					case <-m.done:
						return
					}
				case err := <-w.Errors():
					select {
					case m.errs <- err:
					default:
					}
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(m.events)
	}()
	return m
}

func (m *merged) Events() <-chan Event { return m.events }
func (m *merged) Errors() <-chan error { return m.errs }
func (m *merged) Kind() string         { return m.a.Kind() + "+" + m.b.Kind() }

func (m *merged) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		err = errors.Join(m.a.Close(), m.b.Close())
	})
	return err
}

// cleanDirs checks that each folder exists and returns absolute paths with
// symbolic links resolved (the kernel reports real paths).
func cleanDirs(dirs []string) ([]string, error) {
	if len(dirs) == 0 {
		return nil, errors.New("fswatch: no folder to watch")
	}
	var out []string
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", d, err)
		}
		if abs, err = filepath.EvalSymlinks(abs); err != nil {
			return nil, fmt.Errorf("watch %s: %w", d, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", d, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("watch %s: not a folder", d)
		}
		out = append(out, abs)
	}
	return out, nil
}

// under reports whether path is one of dirs or inside one.
func under(path string, dirs []string) bool {
	for _, d := range dirs {
		if path == d || strings.HasPrefix(path, d+string(filepath.Separator)) || d == "/" {
			return true
		}
	}
	return false
}
