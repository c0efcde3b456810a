// Package clamav scans content with a running ClamAV daemon (clamd), over
// its INSTREAM command on a unix socket or a TCP address. It is one of the
// agent's optional scanning engines (scan.Engine).
package clamav

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/scan"
)

// Defaults of Options.
const (
	// DefaultStreamMaxLength is clamd's own default StreamMaxLength (25M).
	DefaultStreamMaxLength = 25 << 20
	DefaultTimeout         = 2 * time.Minute
	DefaultDialTimeout     = 5 * time.Second
	DefaultChunkSize       = 64 << 10
)

// maxReply bounds what is read of one reply: clamd's replies are one short
// line, and a peer that sends more is not a clamd to trust.
const maxReply = 4 << 10

// Options configure a Client. The zero value uses the defaults.
type Options struct {
	// StreamMaxLength is the largest content sent to clamd. It must not be
	// more than StreamMaxLength in clamd.conf, or clamd cuts the stream and
	// the scan fails; 0 means DefaultStreamMaxLength. Content over it is
	// not sent: Scan returns an ETOOLARGE error.
	StreamMaxLength int64
	// Timeout bounds one scan, from dialing to the reply, on top of the
	// context's deadline; 0 means DefaultTimeout.
	Timeout time.Duration
	// DialTimeout bounds connecting to clamd; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// ChunkSize is the size of the INSTREAM chunks; 0 means
	// DefaultChunkSize.
	ChunkSize int
}

// Client talks to one clamd. Each call opens its own connection, so a
// Client is safe for concurrent use; clamd's MaxThreads and MaxQueue bound
// how many scans it runs at once.
type Client struct {
	network, address string
	opt              Options
}

var _ scan.Engine = (*Client)(nil)

// New returns a client for the clamd at addr: "unix:///run/clamav/clamd.ctl"
// or an absolute socket path for a unix socket, "tcp://host:port" or
// "host:port" for TCP. It does not connect; call Ping to check the daemon.
func New(addr string, opt Options) (*Client, error) {
	network, address, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	if opt.StreamMaxLength < 0 {
		return nil, herd.Errorf(herd.EINVALID, "clamav: stream max length = %d: must be >= 0", opt.StreamMaxLength)
	}
	if opt.Timeout < 0 || opt.DialTimeout < 0 {
		return nil, herd.Errorf(herd.EINVALID, "clamav: timeouts must be >= 0")
	}
	if opt.ChunkSize < 0 {
		return nil, herd.Errorf(herd.EINVALID, "clamav: chunk size = %d: must be >= 0", opt.ChunkSize)
	}
	if opt.StreamMaxLength == 0 {
		opt.StreamMaxLength = DefaultStreamMaxLength
	}
	if opt.Timeout == 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = DefaultDialTimeout
	}
	if opt.ChunkSize == 0 {
		opt.ChunkSize = DefaultChunkSize
	}
	return &Client{network: network, address: address, opt: opt}, nil
}

func parseAddr(addr string) (network, address string, err error) {
	switch {
	case strings.HasPrefix(addr, "unix://"):
		network, address = "unix", strings.TrimPrefix(addr, "unix://")
	case strings.HasPrefix(addr, "tcp://"):
		network, address = "tcp", strings.TrimPrefix(addr, "tcp://")
	case strings.HasPrefix(addr, "/"):
		network, address = "unix", addr
	default:
		network, address = "tcp", addr
	}
	if address == "" {
		return "", "", herd.Errorf(herd.EINVALID, "clamav: address %q: empty", addr)
	}
	if network == "tcp" {
		if _, _, err := net.SplitHostPort(address); err != nil {
			return "", "", herd.Errorf(herd.EINVALID, "clamav: address %q: want unix:///path, /path, tcp://host:port or host:port", addr)
		}
	}
	return network, address, nil
}

// Name returns "clamav".
func (c *Client) Name() string { return "clamav" }

// Addr returns the daemon's address as network:address.
func (c *Client) Addr() string { return c.network + ":" + c.address }

// Ping checks that clamd answers.
func (c *Client) Ping(ctx context.Context) error {
	reply, err := c.command(ctx, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return herd.Errorf(herd.EUNAVAILABLE, "clamav %s: PING answered %q, not PONG", c.Addr(), reply)
	}
	return nil
}

// Version returns clamd's version line, such as
// "ClamAV 1.4.6/27000/Tue Nov 24 09:00:00 2026" (engine/database/date).
func (c *Client) Version(ctx context.Context) (string, error) {
	reply, err := c.command(ctx, "VERSION")
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(reply, "ClamAV ") {
		return "", herd.Errorf(herd.EUNAVAILABLE, "clamav %s: VERSION answered %q", c.Addr(), reply)
	}
	return reply, nil
}

// command sends a command without payload and returns its reply.
func (c *Client) command(ctx context.Context, cmd string) (string, error) {
	conn, stop, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	defer stop()
	if _, err := conn.Write([]byte("z" + cmd + "\x00")); err != nil {
		return "", c.ioError(ctx, cmd, err)
	}
	reply, err := readReply(conn)
	if err != nil {
		return "", c.ioError(ctx, cmd, err)
	}
	return reply, nil
}

// Scan streams r to clamd with INSTREAM and returns the name of the
// signature clamd found, or "" if it found none. Content longer than
// StreamMaxLength is not scanned: Scan returns an ETOOLARGE error. Errors
// reported by clamd, or a daemon that cannot be reached, give an
// EUNAVAILABLE error.
func (c *Client) Scan(ctx context.Context, name string, r io.Reader) (string, error) {
	conn, stop, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	defer stop()

	// Chunks are written with their length in front, in one buffer, so that
	// each chunk is one write.
	buf := make([]byte, 4+c.opt.ChunkSize)
	if _, err := conn.Write([]byte("zINSTREAM\x00")); err != nil {
		return "", c.ioError(ctx, "INSTREAM "+name, err)
	}
	var sent int64
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, rerr := io.ReadFull(r, buf[4:])
		if n > 0 {
			if sent+int64(n) > c.opt.StreamMaxLength {
				return "", herd.Errorf(herd.ETOOLARGE, "clamav: %s: over StreamMaxLength (%d bytes), not scanned; raise StreamMaxLength in clamd.conf and in the agent's clamav settings to scan it", name, c.opt.StreamMaxLength)
			}
			binary.BigEndian.PutUint32(buf, uint32(n))
			if _, err := conn.Write(buf[:4+n]); err != nil {
				return "", c.writeError(ctx, conn, name, err)
			}
			sent += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return "", fmt.Errorf("clamav: %s: read content: %w", name, rerr)
		}
	}
	if _, err := conn.Write([]byte{0, 0, 0, 0}); err != nil {
		return "", c.writeError(ctx, conn, name, err)
	}
	reply, err := readReply(conn)
	if err != nil {
		return "", c.ioError(ctx, "INSTREAM "+name, err)
	}
	threat, err := parseReply(reply)
	if err != nil {
		return "", c.replyError(name, err)
	}
	return threat, nil
}

// dial connects to clamd with a deadline of the scan timeout or ctx's,
// whichever comes first, and closes the connection early when ctx is done.
// stop releases both.
func (c *Client) dial(ctx context.Context) (net.Conn, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	d := net.Dialer{Timeout: c.opt.DialTimeout}
	conn, err := d.DialContext(ctx, c.network, c.address)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, herd.Errorf(herd.EUNAVAILABLE, "clamav %s: cannot connect: %v", c.Addr(), err)
	}
	deadline := time.Now().Add(c.opt.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	// A past deadline wakes any blocked read or write at once.
	release := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return conn, func() { release(); _ = conn.Close() }, nil
}

// writeError explains a failed write of INSTREAM. clamd closes the stream
// when it is over its own StreamMaxLength and says why: its reply, if it
// can still be read, is better than the write error.
func (c *Client) writeError(ctx context.Context, conn net.Conn, name string, err error) error {
	if ctx.Err() == nil {
		if reply, rerr := readReply(conn); rerr == nil {
			_, perr := parseReply(reply)
			if perr != nil {
				return c.replyError(name, perr)
			}
		}
	}
	return c.ioError(ctx, "INSTREAM "+name, err)
}

// ioError explains a failed exchange: the caller's context, the timeout,
// or the connection.
func (c *Client) ioError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("clamav %s: %s: %w", c.Addr(), what, ctx.Err())
	}
	// The connection's deadline may pass just before ctx notices its own.
	if d, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(d) {
		return fmt.Errorf("clamav %s: %s: %w", c.Addr(), what, context.DeadlineExceeded)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return herd.Errorf(herd.EUNAVAILABLE, "clamav %s: %s: no answer within %s", c.Addr(), what, c.opt.Timeout)
	}
	return herd.Errorf(herd.EUNAVAILABLE, "clamav %s: %s: %v", c.Addr(), what, err)
}

func (c *Client) replyError(name string, err error) error {
	if errors.Is(err, errSizeLimit) {
		return herd.Errorf(herd.ETOOLARGE, "clamav %s: %s: over clamd's StreamMaxLength, not scanned; StreamMaxLength in clamd.conf is below the agent's (%d bytes)", c.Addr(), name, c.opt.StreamMaxLength)
	}
	return herd.Errorf(herd.EUNAVAILABLE, "clamav %s: %s: %v", c.Addr(), name, err)
}

// readReply reads one NUL-terminated reply (or up to EOF), at most
// maxReply bytes.
func readReply(r io.Reader) (string, error) {
	var b bytes.Buffer
	buf := make([]byte, 512)
	for b.Len() <= maxReply {
		n, err := r.Read(buf)
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			b.Write(buf[:i])
			return b.String(), nil
		}
		b.Write(buf[:n])
		if err == io.EOF {
			if b.Len() == 0 {
				return "", errors.New("connection closed without a reply")
			}
			return b.String(), nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("reply longer than %d bytes", maxReply)
}
