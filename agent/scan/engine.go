package scan

import (
	"context"
	"io"
)

// Engine is an optional scanning engine that looks at a file's content, not
// only its hashes: the ClamAV daemon (agent/clamav) or YARA rules
// (agent/yara, built with the yara tag).
//
// Scan reads r to its end (or until it has decided) and returns the name of
// the threat it found, or "" for none. name is the file's path or, inside an
// archive, "archive.zip/member"; engines use it in messages only. An error
// means the content could not be scanned (the engine is down, the content
// is over its limits): the caller reports it and does not treat the file as
// clean. Implementations must be safe for concurrent use.
type Engine interface {
	Name() string
	Scan(ctx context.Context, name string, r io.Reader) (threat string, err error)
}
