package procevents

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

// statLine is a /proc/<pid>/stat line as the kernel writes it.
func statLine(pid int, comm string, ppid int, start uint64) string {
	return fmt.Sprintf("%d (%s) S %d 100 100 0 -1 4194560 120 0 0 0 1 0 0 0 20 0 1 0 %d 2445312 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n", pid, comm, ppid, start)
}

func TestParseStat(t *testing.T) {
	// A command name may hold spaces and parentheses.
	for _, comm := range []string{"sleep", "a b) (c", ") S 1 2 3", ""} {
		s, err := parseStat([]byte(statLine(42, comm, 7, 987654)))
		if err != nil {
			t.Fatalf("%q: %v", comm, err)
		}
		if s.Comm != comm || s.PPID != 7 || s.Start != 987654 {
			t.Errorf("%q: got %+v", comm, s)
		}
	}
	// Our own stat: the kernel's text, our parent and a start time.
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip(err)
	}
	s, err := parseStat(b)
	if err != nil || s.PPID != os.Getppid() || s.Start == 0 {
		t.Errorf("own stat: %+v, %v; want parent %d", s, err, os.Getppid())
	}
}

func TestParseStatErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"42 sleep S 1", "no command name"},
		{"42 )sleep( S 1", "no command name"},
		{"42 (sleep) S 1 2 3", "6 fields, want at least 22"},
		{strings.Replace(statLine(1, "x", 7, 5), " S 7 ", " S seven ", 1), `field 4 (ppid) "seven"`},
		{strings.Replace(statLine(1, "x", 7, 5), " 0 5 ", " 0 -5 ", 1), `field 22 (starttime) "-5"`},
	} {
		if _, err := parseStat([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.in, err, c.want)
		}
	}
}

func TestParseStatusUID(t *testing.T) {
	uid, err := parseStatusUID([]byte("Name:\tsudo\nUmask:\t0022\nState:\tS\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n"))
	if err != nil || uid != 0 {
		t.Errorf("got %d, %v; want the effective id 0", uid, err)
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	if uid, err := parseStatusUID(b); err != nil || int(uid) != os.Geteuid() {
		t.Errorf("own status: %d, %v; want %d", uid, err, os.Geteuid())
	}
	for _, c := range []struct{ in, want string }{
		{"Name:\tx\n", "no Uid line"},
		{"Uid:\t1000\n", "want real and effective"},
		{"Uid:\t1000\t-1\t0\t0\n", `effective id "-1"`},
	} {
		if _, err := parseStatusUID([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.in, err, c.want)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statLine(42, "sleep", 1, 5)))
	f.Add([]byte(statLine(42, "a) (b", 1, 5)))
	f.Add([]byte("1 () "))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStat(b)
		if err != nil {
			return
		}
		// The name is what lies between the first '(' and the last ')'.
		open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if s.Comm != string(b[open+1:closing]) || s.PPID < 0 {
			t.Fatalf("%q: got %+v", b, s)
		}
	})
}

func FuzzParseStatusUID(f *testing.F) {
	f.Add([]byte("Name:\tx\nUid:\t1000\t0\t0\t0\n"))
	f.Add([]byte("Uid:\t1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		uid, err := parseStatusUID(b)
		if err == nil && !bytes.Contains(b, fmt.Appendf(nil, "%d", uid)) {
			t.Fatalf("%q: uid %d is not in the input", b, uid)
		}
	})
}
