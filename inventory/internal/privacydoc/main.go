// Command privacydoc writes docs/PRIVACY.md from package inventory. It runs
// from `go generate ./...`; a test fails when the committed file differs.
package main

import (
	"fmt"
	"os"

	"github.com/herdsec/herd/inventory"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: privacydoc FILE")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], inventory.Markdown(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "privacydoc:", err)
		os.Exit(1)
	}
}
