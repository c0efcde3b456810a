package procevents

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// stat is what this package takes from /proc/<pid>/stat.
type stat struct {
	Comm  string // the executable's name, at most 15 bytes, or as the process set it
	PPID  int
	Start uint64 // clock ticks after boot; with the pid, names a process
}

// parseStat parses /proc/<pid>/stat. The command name in parentheses is
// chosen by the process and may hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStat(b []byte) (stat, error) {
	var s stat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return s, errors.New("stat: no command name in parentheses")
	}
	s.Comm = string(b[open+1 : closing])
	// Fields 3 onwards (state, ppid, …, starttime is field 22), split on
	// spaces by hand: this runs once per process per polling cycle.
	var ppidField, startField []byte
	n := 2
	for rest := b[closing+1:]; n < 22; {
		rest = bytes.TrimLeft(rest, " \n")
		if len(rest) == 0 {
			break
		}
		end := bytes.IndexAny(rest, " \n")
		if end < 0 {
			end = len(rest)
		}
		n++
		switch n {
		case 4:
			ppidField = rest[:end]
		case 22:
			startField = rest[:end]
		}
		rest = rest[end:]
	}
	if n < 22 {
		return s, fmt.Errorf("stat: %d fields, want at least 22", n)
	}
	ppid, err := strconv.Atoi(string(ppidField))
	if err != nil || ppid < 0 {
		return s, fmt.Errorf("stat: field 4 (ppid) %q: not a process id", ppidField)
	}
	s.PPID = ppid
	if s.Start, err = strconv.ParseUint(string(startField), 10, 64); err != nil {
		return s, fmt.Errorf("stat: field 22 (starttime) %q: not a number", startField)
	}
	return s, nil
}

// parseStatusUID returns the effective user id from /proc/<pid>/status
// (the line "Uid:\treal\teffective\tsaved\tfilesystem").
func parseStatusUID(b []byte) (uint32, error) {
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		rest, ok := bytes.CutPrefix(line, []byte("Uid:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) < 2 {
			return 0, fmt.Errorf("status: Uid line %q: want real and effective ids", line)
		}
		uid, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("status: Uid line: effective id %q: not a user id", f[1])
		}
		return uint32(uid), nil
	}
	return 0, errors.New("status: no Uid line")
}
