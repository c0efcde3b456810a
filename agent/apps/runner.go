package apps

import "github.com/herdsec/herd/internal/toolexec"

// ErrNoTool is returned (wrapped) by a Runner when the program is not
// installed.
var ErrNoTool = toolexec.ErrNotInstalled

// Runner runs a package tool (see toolexec.Runner).
type Runner = toolexec.Runner

// Exec is the Runner that starts the real package tools.
type Exec = toolexec.Exec
