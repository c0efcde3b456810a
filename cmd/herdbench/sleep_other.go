//go:build !linux

package main

import "time"

// sleep is time.Sleep where nanosleep is not at hand; see sleep_linux.go
// for what that costs the paced generator.
func sleep(d time.Duration) { time.Sleep(d) }
