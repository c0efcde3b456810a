package fswatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

type fanotify struct {
	f      *os.File
	dirs   []string
	events chan Event
	errs   chan error
	once   sync.Once
	done   chan struct{}
}

// NewFanotify watches the mounts holding dirs with fanotify, reporting
// close-after-write events under dirs. It needs CAP_SYS_ADMIN.
func NewFanotify(dirs []string) (Watcher, error) {
	dirs, err := cleanDirs(dirs)
	if err != nil {
		return nil, err
	}
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK, unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fanotify: %w (it needs root or CAP_SYS_ADMIN)", err)
	}
	for _, d := range dirs {
		// A filesystem mark sees writes through every mount of the
		// filesystem (another mount namespace's too: a sandboxed service,
		// a container); kernels before 4.20 have mount marks only.
		err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, unix.FAN_CLOSE_WRITE, unix.AT_FDCWD, d)
		if errors.Is(err, unix.EINVAL) {
			err = unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_MOUNT, unix.FAN_CLOSE_WRITE, unix.AT_FDCWD, d)
		}
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("fanotify mark %s: %w", d, err)
		}
	}
	w := &fanotify{f: os.NewFile(uintptr(fd), "fanotify"), dirs: dirs, events: make(chan Event, 256), errs: make(chan error, 16), done: make(chan struct{})}
	go w.loop()
	return w, nil
}

func (w *fanotify) Events() <-chan Event { return w.events }
func (w *fanotify) Errors() <-chan error { return w.errs }
func (w *fanotify) Kind() string         { return "fanotify" }

func (w *fanotify) Close() error {
	var err error
	w.once.Do(func() {
		close(w.done)
		err = w.f.Close()
	})
	return err
}

func (w *fanotify) loop() {
	defer close(w.events)
	buf := make([]byte, 64<<10)
	self := os.Getpid()
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.report(fmt.Errorf("fanotify: %w", err))
			}
			return
		}
		for _, m := range DecodeFanotify(buf[:n]) {
			if m.Mask&unix.FAN_Q_OVERFLOW != 0 {
				w.report(ErrOverflow)
				continue
			}
			if m.Fd < 0 {
				continue
			}
			path, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(m.Fd)))
			unix.Close(int(m.Fd))
			if err != nil || int(m.Pid) == self || !under(path, w.dirs) {
				continue // our own writes (quarantine, restore) are not news
			}
			select {
			case w.events <- Event{Path: path, Pid: int(m.Pid)}:
			case <-w.done:
				return
			}
		}
	}
}

func (w *fanotify) report(err error) {
	select {
	case w.errs <- err:
	default: // the caller is not listening; never block the watcher
	}
}

// FanotifyMeta is one fanotify event's fixed part.
type FanotifyMeta struct {
	Mask uint64
	Fd   int32
	Pid  int32
}

// fanotifyMetaLen is sizeof(struct fanotify_event_metadata).
const fanotifyMetaLen = 24

// DecodeFanotify decodes the events in one read from a fanotify file
// descriptor. A record that is short, of another version, or whose length
// runs past the buffer ends the decoding: the rest is not trusted.
func DecodeFanotify(b []byte) []FanotifyMeta {
	var out []FanotifyMeta
	for len(b) >= fanotifyMetaLen {
		evLen := binary.NativeEndian.Uint32(b[0:4])
		if b[4] != unix.FANOTIFY_METADATA_VERSION || evLen < fanotifyMetaLen || uint64(evLen) > uint64(len(b)) {
			break
		}
		out = append(out, FanotifyMeta{
			Mask: binary.NativeEndian.Uint64(b[8:16]),
			Fd:   int32(binary.NativeEndian.Uint32(b[16:20])),
			Pid:  int32(binary.NativeEndian.Uint32(b[20:24])),
		})
		b = b[evLen:]
	}
	return out
}
