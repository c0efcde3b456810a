package procevents

import (
	"bytes"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"

	sigma "github.com/bradleyjkemp/sigma-go"
	"github.com/herdsec/herd/agent/rules"
	"golang.org/x/sys/unix"
)

// logsource is the logsource of every event this package produces: the
// one the shipped Linux process_creation rules are written for.
func logsource() sigma.Logsource {
	return sigma.Logsource{Product: "linux", Category: "process_creation"}
}

// procRoot is where the kernel's view of processes is mounted.
const procRoot = "/proc"

// maxCmdline bounds how much of a command line is read: the kernel allows
// megabytes of arguments, and rules look at the start of them.
const maxCmdline = 64 << 10

// noLoginUID is /proc/<pid>/loginuid for a process of no login session.
const noLoginUID = 4294967295

// reader reads processes from /proc and turns them into events. It is
// used by one goroutine at a time.
type reader struct {
	buf   []byte            // for stat files
	users map[uint32]string // user id → name, so the user database is asked once per user
}

func newReader() *reader {
	return &reader{buf: make([]byte, 4096), users: map[uint32]string{}}
}

// maxUsers bounds the user name cache.
const maxUsers = 4096

// userName returns the name of uid, or the number if it has none.
func (r *reader) userName(uid uint32) string {
	if n, ok := r.users[uid]; ok {
		return n
	}
	id := strconv.FormatUint(uint64(uid), 10)
	name := id
	if u, err := user.LookupId(id); err == nil {
		name = u.Username
	}
	if len(r.users) < maxUsers {
		r.users[uid] = name
	}
	return name
}

// stat reads and parses /proc/<pid>/stat. It is the polling loop's one
// read per process, so it goes around os.File (which would try to add
// each file to the poller): open, one read (the kernel writes the line
// whole; the buffer holds the longest), close.
func (r *reader) stat(pid int) (stat, error) {
	fd, err := unix.Open(procRoot+"/"+strconv.Itoa(pid)+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return stat{}, err
	}
	n, err := unix.Read(fd, r.buf)
	unix.Close(fd)
	if err != nil {
		return stat{}, err
	}
	return parseStat(r.buf[:n])
}

// cmdline reads the command line of pid, arguments joined by spaces.
func cmdline(pid int) (string, error) {
	f, err := os.Open(procRoot + "/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCmdline))
	if err != nil {
		return "", err
	}
	b = bytes.TrimRight(b, "\x00")
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})), nil
}

// event reads what /proc holds about pid and its parent into a
// process_creation event. Fields that cannot be read (the process is
// gone, or hides them) are left out. It reports false when the process
// is gone before its executable or command line could be read.
func (r *reader) event(pid int) (rules.Event, bool) {
	dir := procRoot + "/" + strconv.Itoa(pid)
	fields := map[string]any{"ProcessId": pid}
	exe, errExe := os.Readlink(dir + "/exe")
	cmd, errCmd := cmdline(pid)
	if errExe != nil && (errCmd != nil || cmd == "") {
		return rules.Event{}, false
	}
	if errExe == nil {
		fields["Image"] = exe
	}
	if errCmd == nil {
		fields["CommandLine"] = cmd
	}
	if cwd, err := os.Readlink(dir + "/cwd"); err == nil {
		fields["CurrentDirectory"] = cwd
	}
	if b, err := os.ReadFile(dir + "/status"); err == nil {
		if uid, err := parseStatusUID(b); err == nil {
			fields["User"] = r.userName(uid)
		}
	}
	if b, err := os.ReadFile(dir + "/loginuid"); err == nil {
		if id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil && id != noLoginUID {
			fields["LogonId"] = int(id)
		}
	}
	if st, err := r.stat(pid); err == nil {
		fields["ParentProcessId"] = st.PPID
		if st.PPID > 0 {
			if exe, err := os.Readlink(procRoot + "/" + strconv.Itoa(st.PPID) + "/exe"); err == nil {
				fields["ParentImage"] = exe
			}
			if cmd, err := cmdline(st.PPID); err == nil {
				fields["ParentCommandLine"] = cmd
			}
		}
	}
	return rules.Event{Logsource: logsource(), Fields: fields}, true
}
