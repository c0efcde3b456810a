//go:build !unix

package main

import "os"

// maxRSS is unknown where wait4's resource usage is not available.
func maxRSS(*os.ProcessState) int64 { return 0 }
