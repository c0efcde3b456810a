// Package audit keeps the record of what operators did: every admin action
// and every read of identity data, in a hash chain. Each entry carries the
// chain value of the one before it, and its own chain value is a keyed MAC
// (the key stays on the identity side) over that and its content, so that
// editing, removing, inserting or reordering entries breaks the chain from
// there on, and nobody without the key can forge a consistent chain.
package audit

import (
	"encoding/json"
	"fmt"
	"time"
)

// Entry is one audited action.
type Entry struct {
	Seq      uint64    `json:"seq"` // 1, 2, 3… with no gap
	Time     time.Time `json:"time"`
	Operator string    `json:"operator"`
	Roles    []string  `json:"roles,omitempty"`
	Action   string    `json:"action"`           // the route, e.g. "GET /v1/admin/licenses/{id}"
	Target   string    `json:"target,omitempty"` // what it was about: a licence, a device, an object
	Prev     string    `json:"prev"`             // the previous entry's chain value ("" for the first)
	Chain    string    `json:"chain"`            // MAC(prev ‖ content)
}

// MAC computes the chain's keyed hash of data.
type MAC func(data []byte) (string, error)

// content is what the chain value covers: everything but the value itself.
func (e Entry) content() ([]byte, error) {
	e.Chain = ""
	return json.Marshal(e)
}

// Seal sets e's Seq and Prev after prev (nil for the first entry) and
// computes its chain value.
func Seal(e Entry, prev *Entry, mac MAC) (Entry, error) {
	e.Seq, e.Prev = 1, ""
	if prev != nil {
		e.Seq, e.Prev = prev.Seq+1, prev.Chain
	}
	c, err := e.content()
	if err != nil {
		return e, err
	}
	if e.Chain, err = mac(c); err != nil {
		return e, err
	}
	return e, nil
}

// Report is the result of checking a chain.
type Report struct {
	Entries int    `json:"entries"`
	OK      bool   `json:"ok"`
	BadSeq  uint64 `json:"bad_seq,omitempty"` // the first entry where the chain breaks
	Problem string `json:"problem,omitempty"`
	Head    string `json:"head,omitempty"` // the last entry's chain value: note it to detect a rewritten tail later
}

// Verify checks a chain, in stored order.
func Verify(entries []Entry, mac MAC) Report {
	r := Report{Entries: len(entries), OK: true}
	bad := func(seq uint64, format string, a ...any) Report {
		r.OK, r.BadSeq, r.Problem = false, seq, fmt.Sprintf(format, a...)
		return r
	}
	var prev *Entry
	for i := range entries {
		e := entries[i]
		want := uint64(1)
		if prev != nil {
			want = prev.Seq + 1
		}
		switch {
		case e.Seq != want:
			return bad(want, "entry %d is missing or out of order (found entry %d in its place)", want, e.Seq)
		case prev != nil && e.Prev != prev.Chain, prev == nil && e.Prev != "":
			return bad(e.Seq, "entry %d does not follow the entry before it (removed, inserted or reordered)", e.Seq)
		}
		c, err := e.content()
		if err != nil {
			return bad(e.Seq, "entry %d: %v", e.Seq, err)
		}
		got, err := mac(c)
		if err != nil {
			return bad(e.Seq, "entry %d: %v", e.Seq, err)
		}
		if got != e.Chain {
			return bad(e.Seq, "entry %d was edited: its content does not match its chain value", e.Seq)
		}
		prev = &entries[i]
	}
	if prev != nil {
		r.Head = prev.Chain
	}
	return r
}
