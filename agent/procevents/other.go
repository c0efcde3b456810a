//go:build !linux

package procevents

import "errors"

var errNotLinux = errors.New("procevents: process events are read from Linux's /proc and netlink")

// OpenConnector fails: the process-event connector is Linux's.
func OpenConnector() (Source, error) { return nil, errNotLinux }

// OpenPoll fails: /proc is Linux's.
func OpenPoll(Options) (Source, error) { return nil, errNotLinux }
