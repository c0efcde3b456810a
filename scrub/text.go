package scrub

import (
	"strings"
	"unicode/utf8"
)

// Text scrubs a command line or any free text. It removes, in this order:
//
//   - private key blocks ("-----BEGIN … PRIVATE KEY-----" to its END line, or
//     to the end of the text if the END line is missing) → <secret:private-key>;
//   - URLs (scheme://…): web URLs are scrubbed by URL; others, such as
//     database connection strings (postgres://u:p@h/db), lose their user
//     information, query and fragment;
//   - values of password-ish names and flags (password=…, "token": "…",
//     --password …, --api-key …, AWS_SECRET_ACCESS_KEY=…, Authorization: …,
//     Cookie: …, Bearer …, mysql -p…, sshpass -p …, curl -u user:pass) →
//     <secret:password>, <secret:token>, …; values of user-ish names
//     (user=, --user, login=) → <user>;
//   - secrets gitleaks finds (see secrets.go) → <secret:RULE-ID>;
//   - JWTs → <secret:jwt>, e-mail addresses → <email>, the user of
//     ssh/scp/sftp/rsync logins (alice@host) → <user>, Windows account SIDs
//     → <sid>, AWS access key ids that gitleaks let through (low entropy,
//     …EXAMPLE) → <secret:aws-access-token>, UUIDs → <uuid>, IBANs →
//     <iban>, payment cards → <card>, IP addresses → <ip>, MAC addresses →
//     <mac>, phone numbers → <phone>;
//   - runs of nine or more digits that none of the above took → <number>
//     (account, customer and national ids; see findLongNumber);
//   - long tokens mixing letters and digits given as the value of any name
//     or flag (--ref AB12CD34EF56GH78IJ90, "id": "…") → <token> (see
//     findValueToken);
//   - home folders, per-user mounts and network paths, and the user names in
//     them wherever else the names appear (see Path).
//
// UUIDs are replaced: in command lines they name users, devices, sessions and
// documents more often than anything an analyst needs. Detected web URLs are
// left to URL alone: the later detectors do not look inside them, and the
// user names found in home folders are not looked for in them.
//
// hits counts the replacements. Invalid UTF-8 is replaced by U+FFFD.
func Text(s string) (out string, hits int) { return scrubText(s, false) }

// maxRounds bounds how often the whole pipeline runs on one text (see scrubText).
const maxRounds = 4

// maxLoop bounds the rounds of the value detectors in URL.
const maxLoop = 4

func scrubText(s string, pathMode bool) (string, int) {
	if s == "" {
		return "", 0
	}
	s = sanitize(s)
	// A placeholder written by one detector can change what another sees (a
	// new boundary, or a keyword such as gitleaks' "token" followed by '>',
	// which its generic rule reads as an assignment). So the pipeline runs
	// again on its own output until it finds nothing more: the output is then
	// a fixed point, and Text idempotent. A text with no hits costs one round.
	hits := 0
	for round := 0; round < maxRounds; round++ {
		var n int
		s, n = pipeline(s, pathMode)
		hits += n
		if n == 0 {
			break
		}
	}
	return s, hits
}

func pipeline(s string, pathMode bool) (string, int) {
	hits, n := 0, 0
	s, n = privateKeys(s)
	hits += n
	var urls []string
	if !pathMode {
		s, urls, n = maskURLs(s)
		hits += n
	}
	// Credentials named as such go first: that leaves gitleaks' costliest
	// rule (generic-api-key) nothing to look at in most texts that hold one.
	s, n = assignments(s)
	hits += n
	s, n = secrets(s)
	hits += n
	if strings.Contains(s, "eyJ") {
		s, n = replaceAll(s, findJWT, "<secret:jwt>")
		hits += n
	}
	if strings.IndexByte(s, '@') >= 0 || strings.Contains(s, "%40") {
		s, n = replaceAll(s, findEmail, "<email>")
		hits += n
		if strings.IndexByte(s, '@') >= 0 && runsLogin(s) {
			s, n = replaceAll(s, findLoginUser, "<user>")
			hits += n
		}
	}
	if strings.Contains(s, "S-1-") {
		s, n = replaceAll(s, findSID, "<sid>")
		hits += n
	}
	c := census(s)
	if c.alnumRun >= awsKeyIDLen {
		s, n = replaceAll(s, findAWSKeyID, "<secret:aws-access-token>")
		hits += n
	}
	if c.dashes >= 4 {
		s, n = replaceAll(s, findUUID, "<uuid>")
		hits += n
	}
	if c.digits >= 8 {
		s, n = replaceAll(s, findIBAN, "<iban>")
		hits += n
		s, n = replaceAll(s, findCard, "<card>")
		hits += n
	}
	if c.colons >= 2 {
		s, n = replaceAll(s, findIPv6, "<ip>")
		hits += n
	}
	if c.dots >= 3 && c.digits >= 4 {
		s, n = replaceAll(s, findIPv4, "<ip>")
		hits += n
	}
	if c.colons >= 5 || c.dashes >= 5 {
		s, n = replaceAll(s, findMAC, "<mac>")
		hits += n
	}
	if c.digits >= 8 {
		s, n = replaceAll(s, findPhone, "<phone>")
		hits += n
	}
	// The detectors above only shorten runs, so the census still bounds them.
	if c.digitRun >= minLongNumber {
		s, n = replaceAll(s, findLongNumber, "<number>")
		hits += n
	}
	if c.alnumRun >= minValueToken {
		s, n = replaceAll(s, findValueToken, "<token>")
		hits += n
	}
	s, n = homes(s, pathMode)
	hits += n
	if urls != nil {
		s = unmaskURLs(s, urls)
	}
	return s, hits
}

// counts are what census finds in a text.
type counts struct {
	digits, dashes, colons, dots int
	digitRun, alnumRun           int // the longest runs of digits, and of letters and digits
}

// census counts the characters the detectors need, to skip those that cannot
// match, in one pass. Runs of letters and digits are walked in tight loops:
// they are most of a text.
func census(s string) counts {
	var c counts
	for i := 0; i < len(s); {
		st := i
		for {
			for i < len(s) && censusClass[s[i]] == classLetter {
				i++
			}
			ds := i
			for i < len(s) && censusClass[s[i]] == classDigit {
				i++
			}
			if i == ds {
				break
			}
			c.digits += i - ds
			c.digitRun = max(c.digitRun, i-ds)
		}
		c.alnumRun = max(c.alnumRun, i-st)
		if i < len(s) {
			switch censusClass[s[i]] {
			case classDash:
				c.dashes++
			case classColon:
				c.colons++
			case classDot:
				c.dots++
			}
			i++
		}
	}
	return c
}

const (
	classOther = iota
	classDigit
	classLetter
	classDash
	classColon
	classDot
)

// censusClass is what census counts each byte as.
var censusClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = classDigit
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = classLetter, classLetter
	}
	t['-'], t[':'], t['.'] = classDash, classColon, classDot
	return t
}()

// Sentinels stand for the URLs that URL has scrubbed while the other
// detectors run: "\x01" + the URL's index as bytes 0x10–0x19 + "\x02". No
// detector matches control characters, so none looks into a URL.
const (
	sentinelOpen  = '\x01'
	sentinelClose = '\x02'
)

func isSentinelByte(c byte) bool {
	return c == sentinelOpen || c == sentinelClose || 0x10 <= c && c <= 0x19
}

// sanitize replaces invalid UTF-8 and the bytes that sentinels use by U+FFFD.
func sanitize(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for i := 0; i < len(s); i++ {
		if isSentinelByte(s[i]) {
			return strings.Map(func(r rune) rune {
				if r < utf8.RuneSelf && isSentinelByte(byte(r)) {
					return utf8.RuneError
				}
				return r
			}, s)
		}
	}
	return s
}

func sentinel(i int) string {
	var b [24]byte
	n := len(b)
	b[n-1] = sentinelClose
	n--
	for {
		n--
		b[n] = 0x10 + byte(i%10)
		i /= 10
		if i == 0 {
			break
		}
	}
	n--
	b[n] = sentinelOpen
	return string(b[n:])
}

func unmaskURLs(s string, urls []string) string {
	var b strings.Builder
	b.Grow(len(s) + 64)
	for {
		i := strings.IndexByte(s, sentinelOpen)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		j, k := i+1, 0
		for j < len(s) && 0x10 <= s[j] && s[j] <= 0x19 {
			k = k*10 + int(s[j]-0x10)
			j++
		}
		if j < len(s) && s[j] == sentinelClose && k < len(urls) {
			b.WriteString(urls[k])
			s = s[j+1:]
			continue
		}
		s = s[i+1:] // cannot happen: sentinel bytes are sanitized from the input
	}
}

func isSchemeChar(c byte) bool { return isAlnum(c) || c == '+' || c == '-' || c == '.' }

// urlStop reports whether c ends a URL in text.
func urlStop(c byte) bool {
	return c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '`' || c == '<' || c == '>' ||
		c == '{' || c == '}' || c == '|' || c == '\\' || c == '^'
}

// maskURLs scrubs every URL in s and replaces the web URLs that URL accepts
// by sentinels, returning those URLs.
func maskURLs(s string) (string, []string, int) {
	if !strings.Contains(s, "://") {
		return s, nil, 0
	}
	var b strings.Builder
	var urls []string
	last, hits := 0, 0
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], "://")
		if k < 0 {
			break
		}
		k += i
		st := k
		for st > last && isSchemeChar(s[st-1]) {
			st--
		}
		for st < k && !isAlpha(s[st]) {
			st++
		}
		if st == k {
			i = k + 3
			continue
		}
		en := k + 3
		for en < len(s) {
			if s[en] == '<' {
				if p := placeholderAt(s, en); p > 0 {
					en += p
					continue
				}
			}
			if urlStop(s[en]) {
				break
			}
			en++
		}
		en = trimURLEnd(s, k+3, en)
		tok := s[st:en]
		out, h, ok := URL(tok)
		if !ok {
			fb, hf := urlFallback(tok)
			if o2, h2, ok2 := URL(fb); ok2 {
				out, h = o2, hf+h2
			} else {
				// Not a web URL: keep what is left, visible to the other detectors.
				if fb != tok {
					b.WriteString(s[last:st])
					b.WriteString(fb)
					last = en
				}
				hits += hf
				i = en
				continue
			}
		}
		b.WriteString(s[last:st])
		b.WriteString(sentinel(len(urls)))
		urls = append(urls, out)
		hits += h
		last, i = en, en
	}
	if last == 0 && urls == nil {
		return s, nil, hits
	}
	b.WriteString(s[last:])
	return b.String(), urls, hits
}

// trimURLEnd drops the punctuation that ends a sentence or closes a
// parenthesis around a URL rather than belonging to it.
func trimURLEnd(s string, start, en int) int {
	for en > start {
		switch s[en-1] {
		case '.', ',', ';', ':', '!', '?':
			en--
			continue
		case ')':
			if strings.Count(s[start:en], "(") < strings.Count(s[start:en], ")") {
				en--
				continue
			}
		case ']':
			if strings.Count(s[start:en], "[") < strings.Count(s[start:en], "]") {
				en--
				continue
			}
		}
		break
	}
	return en
}

// urlFallback scrubs a URL that URL cannot: it drops the user information,
// the query and the fragment, which are where credentials and identifiers
// travel (postgres://user:password@host/db?sslmode=…).
func urlFallback(tok string) (string, int) {
	k := strings.Index(tok, "://")
	if k < 0 {
		return tok, 0
	}
	head, rest := tok[:k+3], tok[k+3:]
	hits := 0
	auth := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		auth = rest[:i]
	}
	if i := strings.LastIndexByte(auth, '@'); i >= 0 {
		rest = rest[i+1:]
		hits++
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
		hits++
	}
	return head + rest, hits
}

// privateKeys replaces private key blocks, armored as PEM, OpenSSH or PGP.
// Certificates and public keys are kept: they are public.
func privateKeys(s string) (string, int) {
	const begin, end, dashes = "-----BEGIN ", "-----END ", "-----"
	if !strings.Contains(s, begin) {
		return s, 0
	}
	var b strings.Builder
	last, hits := 0, 0
	for i := 0; ; {
		k := strings.Index(s[i:], begin)
		if k < 0 {
			break
		}
		k += i
		l := strings.Index(s[k+len(begin):], dashes)
		if l < 0 || l > 64 {
			i = k + len(begin)
			continue
		}
		label := s[k+len(begin) : k+len(begin)+l]
		if !strings.Contains(label, "PRIVATE KEY") {
			i = k + len(begin)
			continue
		}
		stop := len(s)
		endLine := end + label + dashes
		if e := strings.Index(s[k:], endLine); e >= 0 {
			stop = k + e + len(endLine)
		}
		b.WriteString(s[last:k])
		b.WriteString("<secret:private-key>")
		hits++
		last, i = stop, stop
	}
	if hits == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), hits
}
