package scrub

import (
	"strings"
	"unicode/utf8"
)

// Path scrubs a file path. Home folders name their owner, and paths under
// them name what the owner works on; the user name, once known, is removed
// wherever else it appears in the same path:
//
//	/home/alice/x             → ~/x            (also /Users/…, /export/home/…, /usr/home/…)
//	/root/x                   → ~/x
//	C:\Users\alice\x          → %USERPROFILE%\x (any drive, either slash, any case;
//	                                              also \Documents and Settings\ and
//	                                              \Device\HarddiskVolumeN\Users\)
//	/var/mail/alice           → /var/mail/<user> (also /var/spool/mail, cron tabs)
//	/run/media/alice/USB/x    → /run/media/<user>/USB/x (udisks2 mounts removable media per user)
//	/media/alice/USB/x        → /media/<user>/USB/x (only at the start of a path)
//	/mnt/home/alice/x         → /mnt/home/<user>/x (a home not at the start)
//	/tmp/alice-build/x        → /tmp/<user>-build/x (the name found above, ≥ 3 characters)
//	\\fs01\finance\q3.xlsx    → \\<host>\<share>\q3.xlsx (network paths: see networkPathAt)
//
// The shared folders that hold no one's files (/Users/Shared, C:\Users\Public,
// Default, All Users) are kept, and so are the system's own mount points
// under /media (/media/cdrom, /media/usb0…); /Volumes on macOS is not per
// user and is kept whole. Names shorter than three characters are not
// replaced elsewhere: that would wreck paths for little gain. Then the
// detectors of Text run on the path: e-mail addresses, secrets, SIDs, UUIDs,
// IP addresses, card numbers… in file names are replaced the same way.
func Path(p string) (out string, hits int) { return scrubText(p, true) }

// sharedHomes are folders under the homes' root that belong to no one.
var sharedHomes = map[string]bool{
	"shared": true, "public": true, "default": true, "default user": true, "all users": true,
	"defaultuser0": true, "defaultapppool": true, "guest": true, "linuxbrew": true,
}

var (
	unixHomes    = []string{"/home/", "/Users/", "/export/home/", "/usr/home/"}
	unixNameDirs = []string{"/var/mail/", "/var/spool/mail/", "/var/spool/cron/crontabs/", "/run/media/"}
)

// sharedMount reports whether a folder under /media is one of the mount
// points that Debian's fstab and usbmount create for everyone (/media/cdrom0,
// /media/usb1…) rather than the per-user folder of udisks2 (/media/alice).
func sharedMount(name string) bool {
	n := len(name)
	for n > 0 && isDigit(name[n-1]) {
		n--
	}
	switch strings.ToLower(name[:n]) {
	case "cdrom", "cdrw", "dvd", "dvdrw", "floppy", "usb", "zip":
		return true
	}
	return false
}

// pathStart reports whether a path may start after byte p.
func pathStart(p byte) bool {
	return p == 0 || isSpace(p) || strings.IndexByte("\"'`=:,;([{|&>", p) >= 0 || isSentinelByte(p)
}

// nameStop reports whether c ends a user name in a path.
func nameStop(c byte, pathMode bool) bool {
	if c == ' ' {
		return !pathMode
	}
	return c < ' ' || c == 0x7f || strings.IndexByte("/\\\"'`:;,|&()<>=*?", c) >= 0
}

// maxNames bounds the user names looked for elsewhere in one text, which
// keeps the cost of a text full of home folders linear.
const maxNames = 8

func containsFoldName(names []string, n string) bool {
	for _, m := range names {
		if strings.EqualFold(m, n) {
			return true
		}
	}
	return false
}

// homeMatch is one home folder found in a text.
type homeMatch struct {
	start, end int    // the span to replace
	repl       string // ~, %USERPROFILE%, <user>, or a network path's <host>\<share>…
	name       string // the user name, if any
	hits       int    // the placeholders repl holds
}

// homes replaces home folders and then the user names found in them.
func homes(s string, pathMode bool) (string, int) {
	if strings.IndexByte(s, '/') < 0 && strings.IndexByte(s, '\\') < 0 {
		return s, 0
	}
	var b strings.Builder
	var names []string
	last, hits := 0, 0
	var smb smbContext
	for i := 0; i < len(s); i++ {
		// Homes start at '/' or '\\', or at a drive letter before ':'.
		k := strings.IndexAny(s[i:], "/\\:")
		if k < 0 {
			break
		}
		i += k
		at := i
		if s[i] == ':' {
			if i == 0 || i-1 < last {
				continue
			}
			at = i - 1
		}
		m, ok := homeAt(s, at, last, pathMode, &smb)
		if !ok {
			continue
		}
		if hits == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:m.start])
		b.WriteString(m.repl)
		hits += m.hits
		last = m.end
		i = m.end - 1
		if n := m.name; utf8.RuneCountInString(n) >= 3 && !strings.EqualFold(n, "root") &&
			len(names) < maxNames && !containsFoldName(names, n) {
			names = append(names, n)
		}
	}
	if hits > 0 {
		b.WriteString(s[last:])
		s = b.String()
	}
	for _, n := range names {
		var k int
		s, k = replaceName(s, n)
		hits += k
	}
	return s, hits
}

func homeAt(s string, i, lo int, pathMode bool, smb *smbContext) (homeMatch, bool) {
	c := s[i]
	if (c == '\\' || c == '/') && i+1 < len(s) && mayStartNetworkPath(c, s[i+1]) {
		if m, ok := networkPathAt(s, i, pathMode, smb); ok {
			return m, true
		}
	}
	p := before(s, i, lo)
	switch {
	case isAlpha(c) && i+3 < len(s) && s[i+1] == ':' && (s[i+2] == '\\' || s[i+2] == '/') && !isAlnum(p):
		for _, root := range []string{"Users", "Documents and Settings"} {
			n0 := i + 3 + len(root)
			if n0 < len(s) && (s[n0] == '\\' || s[n0] == '/') && strings.EqualFold(s[i+3:n0], root) {
				if name, ne, ok := homeName(s, n0+1, pathMode, true); ok {
					return homeMatch{i, ne, "%USERPROFILE%", name, 1}, true
				}
			}
		}
	case c == '\\' && hasPrefixFold(s[i:], `\Device\HarddiskVolume`):
		j := i + len(`\Device\HarddiskVolume`)
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if hasPrefixFold(s[j:], `\Users\`) {
			if name, ne, ok := homeName(s, j+len(`\Users\`), pathMode, true); ok {
				return homeMatch{i, ne, "%USERPROFILE%", name, 1}, true
			}
		}
	case c == '\\' && hasPrefixFold(s[i:], `\Users\`):
		if name, ne, ok := homeName(s, i+len(`\Users\`), pathMode, true); ok {
			n0 := i + len(`\Users\`)
			return homeMatch{n0, ne, "<user>", name, 1}, true
		}
	case c == '/':
		for _, h := range unixHomes {
			if strings.HasPrefix(s[i:], h) {
				n0 := i + len(h)
				if name, ne, ok := homeName(s, n0, pathMode, false); ok {
					if pathStart(p) {
						return homeMatch{i, ne, "~", name, 1}, true
					}
					return homeMatch{n0, ne, "<user>", name, 1}, true
				}
			}
		}
		for _, h := range unixNameDirs {
			if strings.HasPrefix(s[i:], h) {
				n0 := i + len(h)
				if name, ne, ok := homeName(s, n0, pathMode, false); ok {
					return homeMatch{n0, ne, "<user>", name, 1}, true
				}
			}
		}
		// Not after a match: /home/alice/media/x is no mount.
		if strings.HasPrefix(s[i:], "/media/") && (i == 0 || pathStart(s[i-1])) {
			n0 := i + len("/media/")
			if name, ne, ok := homeName(s, n0, pathMode, false); ok && !sharedMount(name) {
				return homeMatch{n0, ne, "<user>", name, 1}, true
			}
		}
		if i+1 < len(s) && s[i+1] == 'g' {
			if m, ok := gvfsAt(s, i); ok {
				return m, true
			}
		}
		if strings.HasPrefix(s[i:], "/root") && pathStart(p) {
			if e := i + 5; e == len(s) || s[e] == '/' || nameStop(s[e], pathMode) || s[e] == ' ' {
				return homeMatch{i, e, "~", "", 1}, true
			}
		}
	}
	return homeMatch{}, false
}

// homeName returns the user name that starts at s[n0] and where it ends.
// In text, a Windows name may hold spaces ("C:\Users\John Smith\…") only if
// a backslash or slash follows it.
func homeName(s string, n0 int, pathMode, windows bool) (string, int, bool) {
	e := componentEnd(s, n0, pathMode, windows)
	name := s[n0:e]
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "$%~<>") ||
		sharedHomes[strings.ToLower(name)] {
		return "", 0, false
	}
	return name, e, true
}

// componentEnd returns where the path component that starts at s[n0] ends.
// In text, a Windows component may hold spaces only if a backslash or slash
// follows it, and a trailing '.' ends the sentence, not the component.
func componentEnd(s string, n0 int, pathMode, windows bool) int {
	e := n0
	for e < len(s) && !nameStop(s[e], pathMode || windows) {
		e++
	}
	if windows && !pathMode && (e == len(s) || s[e] != '\\' && s[e] != '/') {
		if sp := strings.IndexByte(s[n0:e], ' '); sp >= 0 {
			e = n0 + sp
		}
	}
	if !pathMode {
		for e > n0 && (s[e-1] == '.' || s[e-1] == ' ') {
			e-- // the end of a sentence, or the space before a "/S" flag
		}
	}
	return e
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// isNameLetter reports whether c may continue a word around a user name.
func isNameLetter(c byte) bool { return isAlpha(c) || c >= 0x80 }

// replaceName replaces the user name wherever else it appears in s as a word
// of its own (not inside a longer word, not inside a placeholder), ignoring case.
func replaceName(s, name string) (string, int) {
	n := len(name)
	var b strings.Builder
	last, hits := 0, 0
	for i := 0; i+n <= len(s); i++ {
		if p := placeholderAt(s, i); p > 0 {
			i += p - 1
			continue
		}
		if !strings.EqualFold(s[i:i+n], name) {
			continue
		}
		if i > 0 && isNameLetter(s[i-1]) || i+n < len(s) && isNameLetter(s[i+n]) {
			continue
		}
		if hits == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:i])
		b.WriteString("<user>")
		hits++
		last = i + n
		i += n - 1
	}
	if hits == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), hits
}
