package procevents

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/herdsec/herd/agent/rules"
	"golang.org/x/sys/unix"
)

// connector receives the kernel's exec events over netlink. Only
// datagrams sent by the kernel (port id 0) are read, so another process
// cannot feed it made-up events; multicasting to the process-event group
// needs CAP_NET_ADMIN anyway.
type connector struct {
	f      *os.File
	rc     syscall.RawConn
	r      *reader
	buf    []byte
	n      counters
	ran    atomic.Bool
	closed atomic.Bool
}

var _ Source = (*connector)(nil)

// ackTimeout bounds the wait for the kernel to acknowledge the
// subscription. A kernel that will not send events to this process (one
// outside the initial pid and user namespaces) stays silent, so no
// acknowledgement means no events.
const ackTimeout = 2 * time.Second

// rcvBuf is the socket buffer asked for, to ride out bursts of execs.
const rcvBuf = 4 << 20

// OpenConnector subscribes to the kernel's process events. It needs
// CAP_NET_ADMIN in the initial user and pid namespaces, and fails, saying
// why, without them.
func OpenConnector() (Source, error) {
	return openConnector(rcvBuf)
}

// openConnector opens the connector with a socket buffer of rcvbuf bytes.
func openConnector(rcvbuf int) (*connector, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("procevents: connector socket: %w", err)
	}
	// SO_RCVBUFFORCE passes the system's limit when privileged.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("procevents: connector bind: %w", err)
	}
	f := os.NewFile(uintptr(fd), "netlink-connector")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("procevents: connector: %w", err)
	}
	c := &connector{f: f, rc: rc, r: newReader(), buf: make([]byte, 16<<10)}
	if err := c.subscribe(); err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// subscribe asks for process events and waits for the kernel to agree.
func (c *connector) subscribe() error {
	ack := rand.Uint32()
	if err := c.send(procCnMcastListen, ack); err != nil {
		return fmt.Errorf("procevents: connector subscribe: %w", err)
	}
	if err := c.f.SetReadDeadline(time.Now().Add(ackTimeout)); err != nil {
		return fmt.Errorf("procevents: connector: %w", err)
	}
	defer c.f.SetReadDeadline(time.Time{})
	// Exec events of other processes may come before the acknowledgement;
	// they precede Open's return and are dropped.
	for range 1 << 16 {
		evs, _, err := c.read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("procevents: connector: the kernel did not acknowledge the subscription within %v (not in the initial namespaces?)", ackTimeout)
		}
		if err != nil && !errors.Is(err, unix.ENOBUFS) {
			return fmt.Errorf("procevents: connector subscribe: %w", err)
		}
		for _, ev := range evs {
			if ev.What != procEventNone || ev.Ack != ack+1 {
				continue
			}
			if ev.Err != 0 {
				return fmt.Errorf("procevents: connector subscribe: %w", syscall.Errno(ev.Err))
			}
			return nil
		}
	}
	return errors.New("procevents: connector subscribe: no acknowledgement among the first events")
}

// send sends the kernel a subscription message of operation op.
func (c *connector) send(op, ack uint32) error {
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), mcastMessage(op, rand.Uint32(), ack), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	if err == nil {
		err = serr
	}
	return err
}

// read reads one datagram from the kernel and decodes it: err is the
// failure to read, garbled the failure to decode (with the events decoded
// before it). A datagram from elsewhere decodes to no events.
func (c *connector) read() (evs []procEvent, garbled, err error) {
	var (
		n    int
		from unix.Sockaddr
		rerr error
	)
	err = c.rc.Read(func(fd uintptr) bool {
		n, from, rerr = unix.Recvfrom(int(fd), c.buf, 0)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, nil, err
	}
	if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
		return nil, nil, nil
	}
	evs, garbled = decode(c.buf[:n])
	return evs, garbled, nil
}

func (c *connector) Kind() Kind   { return Connector }
func (c *connector) Stats() Stats { return c.n.stats() }

// Close ends the subscription before closing the socket: the kernel
// counts subscribers and, while any is left, builds an event for every
// fork, exec and exit.
func (c *connector) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	_ = c.send(procCnMcastIgnore, 0)
	return c.f.Close()
}

func (c *connector) Run(ctx context.Context, emit func(rules.Event)) error {
	if c.ran.Swap(true) {
		return errRunTwice
	}
	// A deadline in the past wakes the blocked read when ctx ends.
	stop := context.AfterFunc(ctx, func() { c.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		evs, garbled, err := c.read()
		switch {
		case ctx.Err() != nil, c.closed.Load():
			return nil
		case errors.Is(err, unix.ENOBUFS):
			c.n.overruns.Add(1)
			continue
		case err != nil:
			return fmt.Errorf("procevents: connector read: %w", err)
		case garbled != nil:
			c.n.garbled.Add(1)
		}
		for _, ev := range evs {
			if ev.What != procEventExec {
				continue
			}
			e, ok := c.r.event(int(ev.TGID))
			if !ok {
				c.n.missed.Add(1)
				continue
			}
			c.n.emitted.Add(1)
			emit(e)
		}
	}
}
