package scrub

import (
	"bytes"
	"strings"
)

// Passwords, tokens and keys are most often found by the name they are given:
// an environment variable (PGPASSWORD=…), a flag (--token …), a setting
// (password: …, "apiKey": "…"), an HTTP header (Authorization: …). The value
// is replaced, the name kept, so an analyst still sees that a credential was
// passed — and how — without seeing it. Names are matched on their last word
// ("AWS_SECRET_ACCESS_KEY", "accessToken", "db.password"), so that
// "--password-file", "--auth-type" and "keyword" keep their values.

type kind int

const (
	kindNone kind = iota
	kindPassword
	kindToken
	kindAuthorization
	kindCookie
	kindUser
	kindCredentials
)

var kindPlaceholder = [...]string{
	kindPassword:      "<secret:password>",
	kindToken:         "<secret:token>",
	kindAuthorization: "<secret:authorization>",
	kindCookie:        "<secret:cookie>",
	kindUser:          "<user>",
	kindCredentials:   "<secret:credentials>",
}

var passwordWords = map[string]bool{
	"password": true, "passwd": true, "pass": true, "pwd": true, "passphrase": true,
	"pw": true, "passcode": true, "pin": true,
}

var tokenWords = map[string]bool{
	"token": true, "secret": true, "key": true, "apikey": true, "auth": true,
	"credential": true, "credentials": true, "creds": true, "cred": true,
	"signature": true, "session": true, "sessionid": true, "jwt": true, "otp": true,
}

// tokenSuffixes end names that hold credentials whatever their last word:
// PGPASSWORD-style run-together names, and access key ids (AWS_ACCESS_KEY_ID),
// half of a credential that also names its account.
var tokenSuffixes = []string{"token", "secret", "apikey", "accesskey", "secretkey", "privatekey", "accesskeyid"}

var userNames = map[string]bool{
	"user": true, "username": true, "userid": true, "login": true, "loginname": true,
	"loginid": true, "uid": true, "account": true, "accountname": true, "accountid": true,
}

// classify says what a name holds.
func classify(name string) kind {
	name = strings.TrimLeft(name, "-")
	var w nameWords
	if !w.split(name) {
		return kindNone
	}
	switch string(w.lower()) {
	case "authorization", "proxy-authorization":
		return kindAuthorization
	case "cookie", "set-cookie":
		return kindCookie
	}
	last := w.word(w.n - 1)
	joined := w.joined()
	switch {
	case passwordWords[string(last)] || bytes.HasSuffix(joined, []byte("password")) ||
		bytes.HasSuffix(joined, []byte("passwd")) || bytes.HasSuffix(joined, []byte("passphrase")):
		return kindPassword
	case tokenWords[string(last)]:
		return kindToken
	case userNames[string(joined)]:
		return kindUser
	}
	for _, suf := range tokenSuffixes {
		if bytes.HasSuffix(joined, []byte(suf)) {
			return kindToken
		}
	}
	return kindNone
}

// nameWords splits a name of up to 64 bytes into lower-case words at '-',
// '_', '.' (any byte but a letter or digit), and where camelCase starts a new
// word ("accessToken" → access, token; "APIKey" → api, key), without allocating.
type nameWords struct {
	buf   [64]byte // the name, lower-cased: buf[:nlow]
	nlow  int
	cat   [64]byte  // the words run together
	start [32]uint8 // word i is buf[start[i]:end[i]]
	end   [32]uint8
	n     int
}

// split fills w; false if the name is empty, too long or has no word.
func (w *nameWords) split(name string) bool {
	if name == "" || len(name) > len(w.buf) {
		return false
	}
	w.nlow = len(toLowerASCII(w.buf[:0], name))
	w.n = 0
	st := 0
	flush := func(e int) {
		if e > st && w.n < len(w.start) {
			w.start[w.n], w.end[w.n] = uint8(st), uint8(e)
			w.n++
		}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isAlnum(c) {
			flush(i)
			st = i + 1
			continue
		}
		if i > st && isUpper(c) {
			prev := name[i-1]
			nextLower := i+1 < len(name) && isLower(name[i+1])
			if isLower(prev) || isDigit(prev) || isUpper(prev) && nextLower {
				flush(i)
				st = i
			}
		}
	}
	flush(len(name))
	return w.n > 0
}

func (w *nameWords) lower() []byte { return w.buf[:w.nlow] }

func (w *nameWords) word(i int) []byte { return w.buf[w.start[i]:w.end[i]] }

// joined returns the words run together ("AWS_ACCESS_KEY_ID" → awsaccesskeyid).
func (w *nameWords) joined() []byte {
	out := w.cat[:0]
	for i := 0; i < w.n; i++ {
		out = append(out, w.word(i)...)
	}
	return out
}

func toLowerASCII(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUpper(c) {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func isNameChar(c byte) bool { return isAlnum(c) || c == '_' || c == '.' || c == '-' }

// valueStop reports whether c ends an unquoted value.
func valueStop(c byte) bool {
	return c < ' ' || c == ' ' || c == 0x7f || c == '"' || c == '\'' || c == '`' || c == ';' ||
		c == '&' || c == ',' || c == ')' || c == '}' || c == ']' || c == '|'
}

// isVarRef reports whether v only refers to a variable ($PASSWORD, ${TOKEN},
// $(cat …), %PASSWORD%): it is not the secret itself.
func isVarRef(v string) bool {
	if strings.HasPrefix(v, "${") || strings.HasPrefix(v, "$(") {
		return true
	}
	if len(v) > 1 && v[0] == '$' {
		for i := 1; i < len(v); i++ {
			if !isAlnum(v[i]) && v[i] != '_' {
				return false
			}
		}
		return true
	}
	if len(v) > 2 && v[0] == '%' && v[len(v)-1] == '%' {
		for i := 1; i < len(v)-1; i++ {
			if !isAlnum(v[i]) && v[i] != '_' {
				return false
			}
		}
		return true
	}
	return false
}

// authSchemes are the HTTP authentication schemes; the scheme is kept, the
// credentials after it replaced.
var authSchemes = map[string]bool{
	"bearer": true, "basic": true, "digest": true, "token": true, "negotiate": true,
	"ntlm": true, "aws4-hmac-sha256": true, "apikey": true, "hoba": true, "mutual": true,
	"oauth": true, "dpop": true, "sso": true, "key": true,
}

// assignments replaces the values of password-ish and user-ish names and flags.
func assignments(s string) (string, int) {
	if !strings.ContainsAny(s, "=:-Bb") {
		return s, 0
	}
	var b strings.Builder
	last, hits := 0, 0
	var tools toolSet
	toolsKnown := false
	for i := 0; i < len(s); i++ {
		if p := placeholderAt(s, i); p > 0 {
			i += p - 1 // "<secret:token>" is no assignment
			continue
		}
		vs, ve, repl := -1, -1, ""
		switch c := s[i]; {
		case c == '=' || c == ':':
			vs, ve, repl = assignmentAt(s, i, last)
		case c == '-' && (i == 0 || isSpace(s[i-1]) || s[i-1] == '"' || s[i-1] == '\''):
			if !toolsKnown {
				tools, toolsKnown = findTools(s), true
			}
			vs, ve, repl = flagAt(s, i, tools)
		case c == 'B' || c == 'b':
			if i == 0 || !isAlnum(s[i-1]) {
				vs, ve, repl = bearerAt(s, i)
			}
		}
		if vs < 0 {
			continue
		}
		if hits == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:vs])
		b.WriteString(repl)
		hits++
		last = ve
		i = ve - 1
	}
	if hits == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), hits
}

// assignmentAt handles NAME=VALUE, NAME: VALUE, "NAME": "VALUE", NAME => VALUE
// and NAME := VALUE around the '=' or ':' at s[i]. It returns the span of the
// value to replace and its placeholder, or -1.
func assignmentAt(s string, i, lo int) (int, int, string) {
	c := s[i]
	next := byte(0)
	if i+1 < len(s) {
		next = s[i+1]
	}
	switch {
	case c == ':' && (next == '/' || next == '\\' || next == ':'):
		return -1, -1, "" // scheme://, C:\, ::
	case c == '=' && next == '=':
		return -1, -1, "" // ==
	case c == '=' && i > 0 && strings.IndexByte("!<>=:", s[i-1]) >= 0:
		return -1, -1, "" // !=, <=, >=, and := (handled at its ':')
	}
	e := i
	for e > lo && (s[e-1] == ' ' || s[e-1] == '\t') {
		e--
	}
	if e > lo && (s[e-1] == '"' || s[e-1] == '\'') {
		e--
	}
	st := e
	for st > lo && isNameChar(s[st-1]) {
		st--
	}
	if st == e {
		return -1, -1, ""
	}
	k := classify(s[st:e])
	if k == kindNone {
		return -1, -1, ""
	}
	j := i + 1
	if j < len(s) && (c == '=' && s[j] == '>' || c == ':' && s[j] == '=') {
		j++
	}
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	return valueAt(s, j, k)
}

// valueAt returns the span of the value that starts at s[j] (quoted or not)
// and its placeholder, or -1 if there is nothing to replace.
func valueAt(s string, j int, k kind) (int, int, string) {
	if j >= len(s) {
		return -1, -1, ""
	}
	vs, ve := j, j
	if q := s[j]; q == '"' || q == '\'' || q == '`' {
		vs = j + 1
		ve = len(s)
		if e := strings.IndexByte(s[vs:], q); e >= 0 {
			ve = vs + e
		}
	} else if k == kindAuthorization || k == kindCookie {
		for ve < len(s) && s[ve] != '\n' && s[ve] != '\r' && s[ve] != '"' && s[ve] != '\'' &&
			s[ve] != '`' && !isSentinelByte(s[ve]) {
			ve++
		}
	} else {
		for ve < len(s) && !valueStop(s[ve]) {
			if p := placeholderAt(s, ve); p > 0 && ve > vs {
				break
			}
			ve++
		}
	}
	if k == kindAuthorization {
		// Keep the scheme: "Authorization: Bearer <secret:authorization>".
		w := vs
		for w < ve && !isSpace(s[w]) {
			w++
		}
		var buf [32]byte
		if w-vs <= len(buf) && authSchemes[string(toLowerASCII(buf[:0], s[vs:w]))] {
			for w < ve && isSpace(s[w]) {
				w++
			}
			vs = w
		}
	}
	for ve > vs && isSpace(s[ve-1]) {
		ve--
	}
	v := s[vs:ve]
	if v == "" || isVarRef(v) || strings.HasPrefix(v, "<") && placeholderAt(v, 0) > 0 {
		return -1, -1, ""
	}
	if k == kindUser && strings.IndexByte(v, ':') > 0 {
		k = kindCredentials // user:password
	}
	return vs, ve, kindPlaceholder[k]
}

// toolSet says which programs that take passwords in odd flags the text runs.
type toolSet struct{ mysql, sshpass, curl bool }

func findTools(s string) toolSet {
	var t toolSet
	if strings.IndexByte(s, '-') < 0 {
		return t
	}
	t.mysql = containsFold(s, "mysql") || containsFold(s, "mariadb")
	t.sshpass = containsFold(s, "sshpass")
	t.curl = containsFold(s, "curl")
	return t
}

// containsFold reports whether s contains sub (lower-case ASCII letters),
// ignoring ASCII case.
func containsFold(s, sub string) bool {
	n := len(sub)
outer:
	for i := 0; i+n <= len(s); i++ {
		if s[i]|0x20 != sub[0] {
			continue
		}
		for j := 1; j < n; j++ {
			if s[i+j]|0x20 != sub[j] {
				continue outer
			}
		}
		return true
	}
	return false
}

// flagAt handles a flag at s[i] ('-'): --password VALUE, -token VALUE,
// --user NAME, and the odd ones: mysql -pPASSWORD, sshpass -p PASSWORD,
// curl -u USER:PASSWORD.
func flagAt(s string, i int, tools toolSet) (int, int, string) {
	j := i
	for j < len(s) && s[j] == '-' {
		j++
	}
	dashes := j - i
	if dashes > 2 || j >= len(s) || !isAlpha(s[j]) {
		return -1, -1, ""
	}
	k := j
	for k < len(s) && isNameChar(s[k]) {
		k++
	}
	name := s[j:k]
	if dashes == 1 && s[j] == 'p' && tools.mysql && (k > j+1 || k < len(s) && !valueStop(s[k]) && s[k] != '=') {
		// mysql -pPASSWORD (with a space, -p prompts and the next word is the database).
		ve := j + 1
		for ve < len(s) && !isSpace(s[ve]) && s[ve] != '"' && s[ve] != '\'' && !isSentinelByte(s[ve]) {
			ve++
		}
		if v := s[j+1 : ve]; v != "" && !isPlaceholder(v) && !isVarRef(v) {
			return j + 1, ve, kindPlaceholder[kindPassword]
		}
		return -1, -1, ""
	}
	if k < len(s) && (s[k] == '=' || s[k] == ':') {
		return -1, -1, "" // --password=VALUE: an assignment
	}
	var kd kind
	switch {
	case dashes == 1 && name == "p" && tools.sshpass:
		kd = kindPassword
	case dashes == 1 && name == "u" && tools.curl:
		kd = kindUser // only user:password is replaced (see valueAt)
	case dashes == 1 && len(name) == 1:
		return -1, -1, "" // other one-letter flags mean too many things
	default:
		kd = classify(name)
	}
	if kd == kindNone || kd == kindAuthorization || kd == kindCookie {
		return -1, -1, ""
	}
	v := k
	for v < len(s) && (s[v] == ' ' || s[v] == '\t') {
		v++
	}
	if v == k || v >= len(s) || s[v] == '-' {
		return -1, -1, ""
	}
	vs, ve, repl := valueAt(s, v, kd)
	if name == "u" && repl != kindPlaceholder[kindCredentials] {
		return -1, -1, "" // curl -u USER without a password
	}
	return vs, ve, repl
}

// bearerAt handles a bare "Bearer TOKEN" at s[i].
func bearerAt(s string, i int) (int, int, string) {
	const w = "bearer"
	if len(s)-i < len(w)+2 || !strings.EqualFold(s[i:i+len(w)], w) {
		return -1, -1, ""
	}
	j := i + len(w)
	if !isSpace(s[j]) {
		return -1, -1, ""
	}
	for j < len(s) && isSpace(s[j]) {
		j++
	}
	e := j
	for e < len(s) && (isAlnum(s[e]) || strings.IndexByte("._~+/=-", s[e]) >= 0) {
		e++
	}
	if e-j < 8 {
		return -1, -1, ""
	}
	return j, e, "<secret:bearer>"
}
