// Package fswatch tells the agent when a file under the watched folders has
// been written and closed: fanotify where the kernel permits it (root, or
// CAP_SYS_ADMIN), inotify otherwise.
//
// fanotify marks the mounts that hold the watched folders and reports every
// close-after-write on them, with the writer's pid, and needs no watch per
// folder; events outside the folders are dropped. It does not see folders
// mounted below a watched one. inotify watches each folder (new ones as they
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

// New watches the folders with fanotify if permitted, else with inotify.
// The error from fanotify, if any, is returned as fallback so the caller can
// say why real-time protection runs on inotify.
func New(dirs []string) (w Watcher, fallback error, err error) {
	clean, err := cleanDirs(dirs)
	if err != nil {
		return nil, nil, err
	}
	if w, err := NewFanotify(clean); err == nil {
		return w, nil, nil
	} else {
		fallback = err
	}
	w, err = NewInotify(clean)
	return w, fallback, err
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
