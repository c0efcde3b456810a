// Package toolexec runs the system tools the agent reads facts from (rpm,
// flatpak, snap, nmcli, iw): never through a shell, in the C locale, with a
// time limit and a bound on the output kept.
package toolexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ErrNotInstalled is returned (wrapped) by a Runner when the program is not
// installed.
var ErrNotInstalled = errors.New("program not installed")

// Runner runs a system tool.
type Runner interface {
	// Run runs the program name with args and returns its standard output.
	// It returns an error wrapping ErrNotInstalled when the program is not
	// installed, and an error quoting the start of its standard error when
	// it exits with a failure. It never runs a program through a shell.
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// Defaults of Exec.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultMaxOutput = 32 << 20
)

// Exec is the Runner that starts real processes, found in $PATH, with the
// C locale so that their output does not depend on the user's language.
type Exec struct {
	Timeout   time.Duration // per command; 0 means DefaultTimeout
	MaxOutput int           // bytes of standard output; 0 means DefaultMaxOutput
}

var _ Runner = Exec{}

// Run implements Runner.
func (e Exec) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, ErrNotInstalled)
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	limit := e.MaxOutput
	if limit <= 0 {
		limit = DefaultMaxOutput
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	stdout := &capped{max: limit}
	stderr := &capped{max: 4096}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	if stdout.over {
		return nil, fmt.Errorf("%s: output longer than %d bytes", name, limit)
	}
	if err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(stderr.buf.String()), "\n")
		if msg != "" {
			return nil, fmt.Errorf("%s: %w: %s", name, err, msg)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return stdout.buf.Bytes(), nil
}

// capped keeps at most max bytes and notes whether more came.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		c.buf.Write(p[:max(room, 0)])
		c.over = true
		return len(p), nil
	}
	return c.buf.Write(p)
}
