//go:build !linux

package fswatch

import "errors"

var errUnsupported = errors.New("fswatch: real-time protection needs Linux (fanotify or inotify)")

// NewFanotify is not available on this system.
func NewFanotify(dirs []string) (Watcher, error) { return nil, errUnsupported }

// NewInotify is not available on this system.
func NewInotify(dirs []string) (Watcher, error) { return nil, errUnsupported }

func newMoves(dirs []string) (Watcher, error) { return nil, errUnsupported }
