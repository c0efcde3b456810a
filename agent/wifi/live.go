package wifi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/herdsec/herd/internal/toolexec"
)

// ErrNoTool is returned (wrapped) by a Runner when the program is not
// installed, and by Current when neither nmcli nor iw is.
var ErrNoTool = toolexec.ErrNotInstalled

// ErrNotConnected is returned by Current when no Wi-Fi interface is
// connected to a network.
var ErrNotConnected = errors.New("not connected to a Wi-Fi network")

// Runner runs a Wi-Fi tool (see toolexec.Runner).
type Runner = toolexec.Runner

// Exec is the Runner that starts the real nmcli and iw (in the C locale,
// so that nmcli's "yes" and "no" do not depend on the user's language).
type Exec = toolexec.Exec

// liveExec bounds the Wi-Fi tools more tightly than Exec's defaults.
var liveExec = Exec{Timeout: 10 * time.Second, MaxOutput: 4 << 20}

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
		run = liveExec
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
		return nil, fmt.Errorf("no Wi-Fi tool found (neither nmcli nor iw is installed): %w", ErrNoTool)
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
