//go:build !yara || !cgo

package yara

import (
	"context"
	"io"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/scan"
)

// errNotBuilt is the answer of Load and Scan in this build.
var errNotBuilt = herd.Errorf(herd.EUNAVAILABLE, "yara: built without YARA support: rebuild with -tags yara (needs cgo and libyara 4.2, Debian package libyara-dev)")

// Supported reports whether this build has YARA support.
const Supported = false

// Engine scans content with YARA rules. This build has no YARA support:
// Load always fails and says how to rebuild.
type Engine struct{}

var _ scan.Engine = (*Engine)(nil)

// Load fails in this build: it was built without the yara tag or without
// cgo.
func Load(paths []string, opt Options) (*Engine, error) {
	if _, err := opt.withDefaults(); err != nil {
		return nil, err
	}
	return nil, errNotBuilt
}

// Name returns "yara".
func (e *Engine) Name() string { return "yara" }

// Rules returns 0: this build compiles no rules.
func (e *Engine) Rules() int { return 0 }

// Warnings returns nothing in this build.
func (e *Engine) Warnings() []string { return nil }

// Scan fails in this build.
func (e *Engine) Scan(ctx context.Context, name string, r io.Reader) (string, error) {
	return "", errNotBuilt
}

// Close does nothing in this build.
func (e *Engine) Close() error { return nil }
