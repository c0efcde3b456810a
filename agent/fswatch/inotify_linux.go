package fswatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

const (
	inotifyMask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_CREATE | unix.IN_DELETE_SELF | unix.IN_ONLYDIR
	// movesMask is inotify's share beside fanotify: files moved in (a
	// download renamed at its end) and new folders.
	movesMask = unix.IN_MOVED_TO | unix.IN_CREATE | unix.IN_DELETE_SELF | unix.IN_ONLYDIR
)

type inotify struct {
	f      *os.File
	fd     int
	mask   uint32
	events chan Event
	errs   chan error
	once   sync.Once
	done   chan struct{}

	mu    sync.Mutex
	paths map[int32]string // watch descriptor → folder
}

// NewInotify watches dirs and every folder below them with inotify.
func NewInotify(dirs []string) (Watcher, error) {
	w, err := newInotify(dirs, inotifyMask)
	if err != nil {
		return nil, err
	}
	return w, nil
}

func newInotify(dirs []string, mask uint32) (*inotify, error) {
	dirs, err := cleanDirs(dirs)
	if err != nil {
		return nil, err
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	w := &inotify{fd: fd, mask: mask, f: os.NewFile(uintptr(fd), "inotify"), events: make(chan Event, 256), errs: make(chan error, 16), done: make(chan struct{}), paths: map[int32]string{}}
	for _, d := range dirs {
		if err := w.addTree(d, false); err != nil {
			w.f.Close()
			return nil, err
		}
	}
	go w.loop()
	return w, nil
}

func (w *inotify) Events() <-chan Event { return w.events }
func (w *inotify) Errors() <-chan error { return w.errs }
func (w *inotify) Kind() string         { return "inotify" }

func (w *inotify) Close() error {
	var err error
	w.once.Do(func() {
		close(w.done)
		err = w.f.Close()
	})
	return err
}

// addTree watches root and the folders below it. With announce, files
// already in them are reported: they may have been written before the
// watch existed.
func (w *inotify) addTree(root string, announce bool) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root && !announce {
				return err
			}
			w.report(fmt.Errorf("watch %s: %w", path, err))
			return nil
		}
		if d.IsDir() {
			wd, err := unix.InotifyAddWatch(w.fd, path, w.mask)
			if err != nil {
				if path == root && !announce {
					return fmt.Errorf("watch %s: %w", path, err)
				}
				w.report(fmt.Errorf("watch %s: %w (raise fs.inotify.max_user_watches?)", path, err))
				return fs.SkipDir
			}
			w.mu.Lock()
			w.paths[int32(wd)] = path
			w.mu.Unlock()
			return nil
		}
		if announce && d.Type().IsRegular() {
			w.send(Event{Path: path})
		}
		return nil
	})
}

func (w *inotify) loop() {
	defer close(w.events)
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.report(fmt.Errorf("inotify: %w", err))
			}
			return
		}
		for _, e := range DecodeInotify(buf[:n]) {
			if e.Mask&unix.IN_Q_OVERFLOW != 0 {
				w.report(ErrOverflow)
				continue
			}
			w.mu.Lock()
			dir, ok := w.paths[e.Wd]
			if e.Mask&unix.IN_IGNORED != 0 {
				delete(w.paths, e.Wd)
			}
			w.mu.Unlock()
			if !ok || e.Name == "" {
				continue
			}
			path := filepath.Join(dir, e.Name)
			switch {
			case e.Mask&unix.IN_ISDIR != 0 && e.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
				_ = w.addTree(path, true)
			case e.Mask&unix.IN_ISDIR != 0:
			case e.Mask&(unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO) != 0:
				if !w.send(Event{Path: path}) {
					return
				}
			}
		}
	}
}

func (w *inotify) send(e Event) bool {
	select {
	case w.events <- e:
		return true
	case <-w.done:
		return false
	}
}

func (w *inotify) report(err error) {
	select {
	case w.errs <- err:
	default:
	}
}

// InotifyEvent is one decoded inotify event.
type InotifyEvent struct {
	Wd   int32
	Mask uint32
	Name string
}

// inotifyLen is sizeof(struct inotify_event) without the name.
const inotifyLen = 16

// DecodeInotify decodes the events in one read from an inotify file
// descriptor. A record whose name runs past the buffer ends the decoding.
func DecodeInotify(b []byte) []InotifyEvent {
	var out []InotifyEvent
	for len(b) >= inotifyLen {
		nameLen := binary.NativeEndian.Uint32(b[12:16])
		if uint64(nameLen) > uint64(len(b)-inotifyLen) {
			break
		}
		name := b[inotifyLen : inotifyLen+int(nameLen)]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		out = append(out, InotifyEvent{
			Wd:   int32(binary.NativeEndian.Uint32(b[0:4])),
			Mask: binary.NativeEndian.Uint32(b[4:8]),
			Name: string(name),
		})
		b = b[inotifyLen+int(nameLen):]
	}
	return out
}

// newMoves watches dirs for files moved in and new folders only.
func newMoves(dirs []string) (Watcher, error) {
	w, err := newInotify(dirs, movesMask)
	if err != nil {
		return nil, err
	}
	return w, nil
}
