package scrub

import "strings"

// Network paths name the file server and the share a file is on
// (\\fs01.corp.example.com\Finance\…, \\nas\alice$\…): together they name the
// organisation and often the person, as a home folder does. Path and Text
// replace the server by <host> and the share by <share>, and scrub the rest
// of the path as usual:
//
//	\\fs01\finance\q3.xlsx              → \\<host>\<share>\q3.xlsx
//	\\?\UNC\fs01\finance\x              → \\?\UNC\<host>\<share>\x
//	\Device\Mup\fs01\finance\x          → \Device\Mup\<host>\<share>\x
//	                                       (also \??\UNC\ and \Device\LanmanRedirector\)
//	\\fs01\home$\alice\x                → \\<host>\home$\<user>\x (shares of homes)
//	\\\\fs01\\finance (escaped, in JSON) → \\\\<host>\\<share>
//	net view \\fs01                     → net view \\<host>
//	smb://nas/alice/x                   → smb://<host>/<share>/x
//	mount -t cifs //nas/alice /mnt/nas  → mount -t cifs //<host>/<share> /mnt/nas
//	/run/user/1000/gvfs/smb-share:server=nas,share=alice/x
//	                                    → /run/user/1000/gvfs/smb-share:server=<host>,share=<share>/x
//
// Kept: the administrative and domain shares (C$, ADMIN$, IPC$, SYSVOL…) and
// the shares that hold homes (Users, home$…), whose next folder is then a
// user name; servers that name no one (localhost, tsclient for RDP, the
// virtual machines' hosts, and WSL's wsl$ and wsl.localhost, whose shares are
// distributions); placeholders written before (\\<ip>\…). "//server/share"
// is read as a network path only after smb: or cifs:, or in a text that
// mentions smb or cifs (smbclient, mount.cifs, an fstab line): elsewhere "//"
// starts Bazel labels, comments and doubled slashes.

// localServers name no one's server.
var localServers = map[string]bool{
	"localhost": true, "127.0.0.1": true, "tsclient": true, "wsl$": true, "wsl.localhost": true,
	"vboxsvr": true, "vboxsrv": true, "vmware-host": true, "mac": true, "psf": true,
}

// genericShares are shares that every server of their kind has. The shares of
// homes (homeShares) are among them.
var genericShares = map[string]bool{
	"admin$": true, "ipc$": true, "print$": true, "sysvol": true, "netlogon": true,
	"public": true, "davwwwroot": true,
}

// homeShares hold one folder per user.
var homeShares = map[string]bool{
	"users": true, "users$": true, "home": true, "home$": true, "homes": true, "homes$": true,
	"profiles": true, "profiles$": true,
}

// ntNetworkPrefixes start the NT object paths of network files, as kernel
// and EDR telemetry reports them.
var ntNetworkPrefixes = []string{`\??\UNC\`, `\Device\Mup\`, `\Device\LanmanRedirector\`}

// smbContext says whether "//server/share" in a text may be a network path:
// whether the text mentions smb or cifs. It looks once, when first asked.
type smbContext int8 // 0 unknown, 1 yes, -1 no

func (c *smbContext) in(s string) bool {
	if *c == 0 {
		*c = -1
		if containsFold(s, "smb") || containsFold(s, "cifs") {
			*c = 1
		}
	}
	return *c > 0
}

// mayStartNetworkPath reports whether sep ('\\' or '/') and the byte c after
// it may begin what networkPathAt looks for: \\, //, \??\, \Device\. It
// spares the separators of every other path a call.
func mayStartNetworkPath(sep, c byte) bool {
	if sep == '/' {
		return c == '/'
	}
	return c == '\\' || c == '?' || c|0x20 == 'd'
}

// networkPathAt returns the network path that starts at s[i] ('\\' or '/'), if any.
func networkPathAt(s string, i int, pathMode bool, smb *smbContext) (homeMatch, bool) {
	// The byte before, even if a match ends there: in "\\\\fs01\\share\\x"
	// (escaped), the "\\" after the share is no new network path, and
	// neither is it after the placeholder that replaced the share.
	p := byte(0)
	if i > 0 {
		p = s[i-1]
	}
	switch {
	case strings.HasPrefix(s[i:], `\\`):
		if !pathStart(p) || p == ':' || p == '>' {
			return homeMatch{}, false // C:\\Windows (escaped), or inside a word
		}
		sep, a := `\`, i+2
		if strings.HasPrefix(s[i:], `\\\\`) {
			sep, a = `\\`, i+4 // escaped: "\\\\fs01\\share"
		}
		if a < len(s) && (s[a] == '?' || s[a] == '.') && strings.HasPrefix(s[a+1:], sep) {
			// \\?\UNC\server\share; \\?\C:\… and \\.\pipe\… are local.
			r := a + 1 + len(sep)
			if !hasPrefixFold(s[r:], "UNC"+sep) {
				return homeMatch{}, false
			}
			a = r + len("UNC") + len(sep)
		}
		return uncAt(s, a, sep, pathMode, true)
	case strings.HasPrefix(s[i:], "//"):
		if p == ':' && !smbScheme(s, i-1) || p != ':' && (!pathStart(p) || p == '>' || !smb.in(s)) {
			return homeMatch{}, false
		}
		return uncAt(s, i+2, "/", pathMode, false)
	case s[i] == '\\':
		for _, pre := range ntNetworkPrefixes {
			if !hasPrefixFold(s[i:], pre) {
				continue
			}
			a := i + len(pre)
			// \Device\Mup\;LanmanRedirector\;Z:000…\server\share: the
			// redirector's own components come first.
			for a < len(s) && s[a] == ';' {
				k := strings.IndexByte(s[a:], '\\')
				if k < 0 {
					return homeMatch{}, false
				}
				a += k + 1
			}
			return uncAt(s, a, `\`, pathMode, true)
		}
	}
	return homeMatch{}, false
}

// hostName reports whether s can name a server: letters, digits, '.', '-',
// '_', '$' (wsl$), '@' (WebDAV's server@SSL@443) and any non-ASCII byte,
// starting with a letter, a digit or a non-ASCII byte.
func hostName(s string) bool {
	if !isAlnum(s[0]) && s[0] < 0x80 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c < 0x80 && strings.IndexByte(".-_$@", c) < 0 {
			return false
		}
	}
	return true
}

// smbScheme reports whether the ':' at s[c] ends the scheme smb or cifs.
func smbScheme(s string, c int) bool {
	k := c
	for k > 0 && isAlpha(s[k-1]) {
		k--
	}
	return strings.EqualFold(s[k:c], "smb") || strings.EqualFold(s[k:c], "cifs")
}

// uncAt reads server, share and, in a share of homes, the user name from
// s[a] on, the components separated by sep.
func uncAt(s string, a int, sep string, pathMode, windows bool) (homeMatch, bool) {
	b := a
	keepServer := false
	if n := placeholderAt(s, a); n > 0 {
		b, keepServer = a+n, true
	} else {
		for b < len(s) && !nameStop(s[b], false) {
			b++
		}
		if !pathMode {
			for b > a && s[b-1] == '.' {
				b-- // the end of a sentence
			}
		}
	}
	server := s[a:b]
	if server == "" || !keepServer && !hostName(server) {
		return homeMatch{}, false // "\\d+" in a regular expression, "\\.\pipe"
	}
	lserver := strings.ToLower(server)
	keepServer = keepServer || localServers[lserver]
	if !strings.HasPrefix(s[b:], sep) {
		// A server alone (net view \\fs01); not in the "//" form, which
		// is too often something else.
		if keepServer || len(server) < 2 || sep == "/" {
			return homeMatch{}, false
		}
		return homeMatch{a, b, "<host>", "", 1}, true
	}
	c := b + len(sep)
	var e int
	keepShare := false
	if n := placeholderAt(s, c); n > 0 {
		e, keepShare = c+n, true
	} else {
		e = componentEnd(s, c, pathMode, windows)
	}
	share := s[c:e]
	if share == "" || share == "." || share == ".." {
		return homeMatch{}, false // "\\Windows\\System32": a local path, escaped
	}
	lshare := strings.ToLower(share)
	wsl := lserver == "wsl$" || lserver == "wsl.localhost"
	keepShare = keepShare || wsl || genericShares[lshare] || homeShares[lshare] ||
		isAlpha(share[0]) && (len(share) == 1 || len(share) == 2 && share[1] == '$') // drives: C, C$

	m := homeMatch{start: a, end: e}
	var repl strings.Builder
	if keepServer {
		repl.WriteString(server)
	} else {
		repl.WriteString("<host>")
		m.hits++
	}
	repl.WriteString(sep)
	if keepShare {
		repl.WriteString(share)
	} else {
		repl.WriteString("<share>")
		m.hits++
	}
	// The folder of a user: \\fs01\home$\alice, \\wsl$\Ubuntu\home\alice.
	u := -1
	switch {
	case homeShares[lshare] && strings.HasPrefix(s[e:], sep):
		u = e + len(sep)
	case wsl && hasPrefixFold(s[e:], sep+"home"+sep):
		u = e + 2*len(sep) + len("home")
	}
	if u >= 0 {
		if name, ne, ok := homeName(s, u, pathMode, windows); ok {
			repl.WriteString(s[e:u])
			repl.WriteString("<user>")
			m.hits++
			m.end, m.name = ne, name
		}
	}
	if m.hits == 0 {
		return homeMatch{}, false
	}
	m.repl = repl.String()
	return m, true
}

// gvfsAt handles the folder where GNOME mounts a network share for its user,
// /run/user/UID/gvfs/TYPE:KEY=VALUE,… (smb-share:server=nas,share=alice,
// sftp:host=build,user=alice): hosts and domains become <host>, shares
// <share>, users <user>.
func gvfsAt(s string, i int) (homeMatch, bool) {
	const pre = "/gvfs/"
	if !strings.HasPrefix(s[i:], pre) {
		return homeMatch{}, false
	}
	a := i + len(pre)
	k := a
	for k < len(s) && (isAlnum(s[k]) || s[k] == '-') {
		k++
	}
	if k == a || k >= len(s) || s[k] != ':' {
		return homeMatch{}, false
	}
	m := homeMatch{start: k + 1}
	var b strings.Builder
	last := m.start
	for j := m.start; j < len(s); {
		eq := j
		for eq < len(s) && isAlnum(s[eq]) {
			eq++
		}
		if eq == j || eq >= len(s) || s[eq] != '=' {
			break
		}
		ve := eq + 1
		if n := placeholderAt(s, ve); n > 0 {
			ve += n
		} else {
			for ve < len(s) && s[ve] != ',' && !nameStop(s[ve], false) {
				ve++
			}
		}
		val := s[eq+1 : ve]
		repl := ""
		switch strings.ToLower(s[j:eq]) {
		case "server", "host", "domain":
			repl = "<host>"
		case "share", "volume":
			if lv := strings.ToLower(val); !genericShares[lv] && !homeShares[lv] {
				repl = "<share>"
			}
		case "user":
			repl = "<user>"
		}
		if repl != "" && val != "" && !isPlaceholder(val) {
			b.WriteString(s[last : eq+1])
			b.WriteString(repl)
			last = ve
			m.hits++
		}
		if ve >= len(s) || s[ve] != ',' {
			break
		}
		j = ve + 1
	}
	if m.hits == 0 {
		return homeMatch{}, false
	}
	m.end, m.repl = last, b.String()
	return m, true
}
