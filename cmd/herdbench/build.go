package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries are the paths of the programs under test.
type Binaries struct {
	Herdd, Herd string
}

// buildBinaries builds herdd and herd into dir. cmd/herdd is a main package
// and cannot be imported, and running the real binaries also measures what
// users run.
func buildBinaries(ctx context.Context, dir string) (Binaries, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return Binaries{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./cmd/herdd", "./cmd/herd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go build: %w\n%s", err, out)
	}
	return Binaries{Herdd: filepath.Join(dir, "herdd"), Herd: filepath.Join(dir, "herd")}, nil
}

// moduleRoot returns the directory of the go.mod that holds the current
// directory, which must be Herd's module.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module: run herdbench from Herd's source tree")
	}
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	if !bytes.Contains(b, []byte("module github.com/herdsec/herd\n")) {
		return "", fmt.Errorf("%s is not Herd's go.mod: run herdbench from Herd's source tree", gomod)
	}
	return filepath.Dir(gomod), nil
}
