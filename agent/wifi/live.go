package wifi

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

// ErrNoTool is returned (wrapped) by a Runner when the program is not
// installed, and by Current when neither nmcli nor iw is.
var ErrNoTool = errors.New("no Wi-Fi tool found (neither nmcli nor iw is installed)")

// ErrNotConnected is returned by Current when no Wi-Fi interface is
// connected to a network.
var ErrNotConnected = errors.New("not connected to a Wi-Fi network")

// Runner runs a Wi-Fi tool.
type Runner interface {
	// Run runs the program name with args and returns its standard output.
	// It returns an error wrapping ErrNoTool when the program is not
	// installed, and an error quoting the start of its standard error when
	// it exits with a failure. It never runs a program through a shell.
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// Defaults of Exec.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultMaxOutput = 4 << 20
)

// Exec is the Runner that starts real processes, found in $PATH, with the
// C locale so that their output (nmcli's "yes" and "no") does not depend
// on the user's language.
type Exec struct {
	Timeout   time.Duration // per command; 0 means DefaultTimeout
	MaxOutput int           // bytes of standard output; 0 means DefaultMaxOutput
}

var _ Runner = Exec{}

// Run implements Runner.
func (e Exec) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, ErrNoTool)
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

// maxIfaces bounds how many interfaces Current asks iw about.
const maxIfaces = 16

// Current returns the Wi-Fi networks the device is connected to now, one
// per connected interface. It asks nmcli first; when nmcli is not installed,
// fails (NetworkManager not running) or knows of no connection (the
// interface is left to another daemon), it asks iw (`iw dev`, then
// `iw dev <if> link` and `iw dev <if> scan dump` for each interface, which
// reads the scan results the kernel already holds and needs no privilege).
// It returns ErrNoTool when neither tool is installed and ErrNotConnected
// when no interface is connected. run nil means Exec{}.
//
// A network whose access point is missing from iw's scan results has
// Security Unknown. Parse problems in lines that do not concern the
// connection are ignored.
func Current(ctx context.Context, run Runner) ([]Network, error) {
	if run == nil {
		run = Exec{}
	}
	out, nmErr := run.Run(ctx, "nmcli", nmcliArgs...)
	if nmErr == nil {
		nets, err := ParseNmcli(out)
		if len(nets) > 0 {
			return nets, nil
		}
		// NetworkManager may leave the Wi-Fi interface to another daemon
		// (iwd, wpa_supplicant alone): iw sees every connection.
		if nets, iwErr := currentIw(ctx, run); iwErr == nil {
			return nets, nil
		}
		if err != nil {
			return nil, err
		}
		return nil, ErrNotConnected
	}
	nets, err := currentIw(ctx, run)
	switch {
	case errors.Is(err, ErrNoTool) && errors.Is(nmErr, ErrNoTool):
		return nil, ErrNoTool
	case errors.Is(err, ErrNoTool):
		return nil, nmErr // nmcli is there but failed, and there is no iw
	}
	return nets, err
}

func currentIw(ctx context.Context, run Runner) ([]Network, error) {
	out, err := run.Run(ctx, "iw", "dev")
	if err != nil {
		return nil, err
	}
	var nets []Network
	var errs []error
	for i, ifc := range ParseIwDev(out) {
		if i >= maxIfaces {
			break
		}
		out, err := run.Run(ctx, "iw", "dev", ifc, "link")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		link, err := ParseIwLink(out)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ifc, err))
			continue
		}
		if !link.Connected {
			continue
		}
		n := Network{Interface: ifc, SSID: link.SSID, BSSID: link.BSSID, Security: Unknown, Tool: "iw"}
		if out, err := run.Run(ctx, "iw", "dev", ifc, "scan", "dump"); err == nil {
			list, _ := ParseIwScan(out)
			for _, b := range list {
				if b.BSSID == link.BSSID {
					n.Security = b.Protection.Classify()
					break
				}
			}
		}
		nets = append(nets, n)
	}
	if len(nets) > 0 {
		return nets, nil
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return nil, ErrNotConnected
}
