package scrub

import (
	"math"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// This file holds the detectors of personal data shared by URL, Path and
// Text: each is a finder that returns the next match at or after from.
//
// A finder treats s[from-1] as a boundary, as if the previous match had
// already been replaced by a placeholder (which starts and ends with '<' and
// '>'): the second pass, which sees that placeholder, then finds exactly what
// the first one found, and scrubbing stays idempotent.

// finder returns the start and end of the next match at or after from, or -1, -1.
type finder func(s string, from int) (start, end int)

// replaceAll replaces every match of find in s by repl.
func replaceAll(s string, find finder, repl string) (string, int) {
	var b strings.Builder
	last, n := 0, 0
	for from := 0; from < len(s); {
		st, en := find(s, from)
		if st < 0 {
			break
		}
		if n == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:st])
		b.WriteString(repl)
		n++
		last, from = en, en
		if en <= st {
			from = st + 1 // a finder never returns an empty match; never loop on one
		}
	}
	if n == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), n
}

// before returns the byte before s[i], or 0 at the start of the search: a
// boundary for every detector.
func before(s string, i, from int) byte {
	if i <= from || i == 0 {
		return 0
	}
	return s[i-1]
}

func isDigit(c byte) bool   { return '0' <= c && c <= '9' }
func isUpper(c byte) bool   { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool   { return 'a' <= c && c <= 'z' }
func isAlpha(c byte) bool   { return isUpper(c) || isLower(c) }
func isAlnum(c byte) bool   { return isDigit(c) || isAlpha(c) }
func isHexByte(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// ---- e-mail addresses ---------------------------------------------------
//
// E-mail addresses name people and are the key most often used to join data
// sets. The detector is deliberately loose: anything of the form
// local@domain.tld (and local%40domain.tld, its URL-encoded form) is removed.

func isLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c >= 0x80
}

func isDomainChar(c byte) bool { return isAlnum(c) || c == '.' || c == '-' || c >= 0x80 }

func findEmail(s string, from int) (int, int) {
	for i := from; i < len(s); i++ {
		at := 0
		switch {
		case s[i] == '@':
			at = 1
		case s[i] == '%' && i+2 < len(s) && s[i+1] == '4' && s[i+2] == '0':
			at = 3
		default:
			continue
		}
		l := i
		for l > from && i-l < 64 && isLocalChar(s[l-1]) {
			l-- // a local part has at most 64 bytes; the bound keeps this linear
		}
		for l < i && !utf8.RuneStart(s[l]) {
			l++ // the bound must not split a character
		}
		if l == i {
			continue
		}
		if end := emailDomainEnd(s, i+at); end > 0 {
			return l, end
		}
	}
	return -1, -1
}

// emailDomainEnd returns the end of the domain that starts at s[j]: the last
// dot followed by two or more letters, then those letters. It returns -1 if
// there is none.
func emailDomainEnd(s string, j int) int {
	r := j
	for r < len(s) && isDomainChar(s[r]) {
		r++
	}
	for k := r - 2; k > j; k-- {
		if s[k] != '.' {
			continue
		}
		m := k + 1
		for m < r && (isAlpha(s[m]) || s[m] >= 0x80) {
			m++
		}
		if m-k-1 >= 2 {
			return m
		}
	}
	return -1
}

// ---- UUIDs ---------------------------------------------------------------
//
// UUIDs in command lines and URLs usually name a user, a device, a session or
// a document: each is a stable identifier that links events to a person.

func findUUID(s string, from int) (int, int) {
	for k := from + 8; k+28 <= len(s); {
		j := strings.IndexByte(s[k:], '-')
		if j < 0 {
			return -1, -1
		}
		k += j
		i := k - 8
		if i >= from && k+28 <= len(s) && isUUIDAt(s, i) && !isAlnum(before(s, i, from)) &&
			(i+36 == len(s) || !isAlnum(s[i+36])) {
			return i, i + 36
		}
		k++
	}
	return -1, -1
}

func isUUIDAt(s string, i int) bool {
	if i+36 > len(s) {
		return false
	}
	for j := 0; j < 36; j++ {
		c := s[i+j]
		switch j {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHexByte(c) {
				return false
			}
		}
	}
	return true
}

// ---- JSON Web Tokens -----------------------------------------------------
//
// A JWT is a bearer credential and its payload often names the user.

func isB64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

func findJWT(s string, from int) (int, int) {
	for k := from; k < len(s); {
		j := strings.Index(s[k:], "eyJ")
		if j < 0 {
			return -1, -1
		}
		i := k + j
		k = i + 1
		if isB64URL(before(s, i, from)) {
			continue
		}
		e := i
		for e < len(s) && isB64URL(s[e]) {
			e++
		}
		if e-i < 10 || e >= len(s) || s[e] != '.' {
			continue
		}
		e2 := e + 1
		for e2 < len(s) && isB64URL(s[e2]) {
			e2++
		}
		if e2-e-1 < 2 || e2 >= len(s) || s[e2] != '.' {
			continue
		}
		e3 := e2 + 1
		for e3 < len(s) && isB64URL(s[e3]) {
			e3++
		}
		return i, e3
	}
	return -1, -1
}

// ---- long numbers --------------------------------------------------------
//
// Runs of six or more digits in URLs are account, order, customer and phone
// numbers far more often than anything a reputation analyst needs.

func findDigitRun(s string, from int) (int, int) {
	return findRun(s, from, isDigit, func(i, j int) bool { return j-i >= 6 })
}

// ---- long numbers in text --------------------------------------------------
//
// In command lines and free text, a run of nine or more digits that no
// detector above took (a phone, a card, an IBAN, an address…) is an account,
// customer, order, tax or national id far more often than anything else —
// AWS account ids in ARNs, Unix times, sizes in bytes are the rest. Shorter
// runs are kept: they are PIDs, ports, counts, sizes, dates and versions.
// Kept too: digits inside a word (0x1234567890, build12345678901), the
// decimals of a fraction (0.123456789) and the sub-authorities of the SIDs
// that findSID keeps (S-1-5-80-…, services; S-1-15-…, app containers):
// those name no one.

// minLongNumber is the shortest run of digits findLongNumber replaces.
const minLongNumber = 9

func findLongNumber(s string, from int) (int, int) {
	return findRun(s, from, isDigit, func(i, j int) bool {
		if j-i < minLongNumber || j < len(s) && isAlnum(s[j]) {
			return false
		}
		switch p := before(s, i, from); {
		case isAlnum(p):
		case p == '.' && i-2 >= from && isDigit(s[i-2]): // a fraction
		case p == '-' && inSID(s, i, from):
		default:
			return true
		}
		return false
	})
}

// inSID reports whether the digits at s[i], after a '-', are a sub-authority
// of a SID: "S-1-" and digits and dashes lead to them.
func inSID(s string, i, from int) bool {
	k := i
	for k > from && i-k < 192 && (isDigit(s[k-1]) || s[k-1] == '-') {
		k--
	}
	return k > from && s[k-1] == 'S' && strings.HasPrefix(s[k:], "-1-")
}

// ---- tokens given as values -------------------------------------------------
//
// A value of 20 or more letters and digits that mixes them, given to a name
// or a flag (--ref AB12CD34EF56GH78IJ90, client_id=…, "licenseKey": "…"), is
// an account id, a licence key, a session or an API key whatever the name
// says — and whatever its entropy, which is why gitleaks and
// findRandomRun let ids such as CUST000012345678ABCD through. Kept:
//
//   - values that are not one run of letters and digits (paths, host names,
//     versions, lists, base64 with '+', '/' or '=');
//   - words run together, even with digits in them
//     (NetworkServiceInProcess2, Windows10Enterprise2024): see wordLike;
//   - file digests and commits in hex (SHA-1, SHA-2: 40, 56, 64, 96 or 128
//     digits): they name a file, not a person. 32 hex digits are replaced:
//     they are session and request ids and UUIDs without dashes at least
//     as often as MD5 digests;
//   - PowerShell's -EncodedCommand and -EncodedArguments (and their
//     abbreviations): what an analyst needs to judge the command;
//   - the values of one- and two-letter flags after one dash (-u, -xf),
//     which mean too many things.

// minValueToken is the shortest value findValueToken replaces.
const minValueToken = 20

func findValueToken(s string, from int) (int, int) {
	return findRun(s, from, isAlnum, func(i, j int) bool {
		return j-i >= minValueToken && valueTokenAt(s, i, j, from) && tokenLike(s[i:j])
	})
}

// valueTokenAt reports whether s[st:en] is the whole value of NAME=VALUE,
// NAME: VALUE, "NAME": "VALUE", NAME => VALUE, --flag VALUE or -flag VALUE.
func valueTokenAt(s string, st, en, lo int) bool {
	v := st
	if q := before(s, st, lo); q == '"' || q == '\'' || q == '`' {
		if en < len(s) && s[en] != q {
			return false
		}
		v--
	} else if en < len(s) && !valueStop(s[en]) {
		return false
	}
	k := v
	for k > lo && (s[k-1] == ' ' || s[k-1] == '\t') {
		k--
	}
	if k <= lo {
		return false
	}
	op := k - 1
	if s[op] == '>' && op > lo && s[op-1] == '=' {
		op-- // =>
	}
	switch {
	case s[op] == '=' || s[op] == ':':
		if op > lo && (s[op] == '=' && strings.IndexByte("!<>=", s[op-1]) >= 0 || s[op] == ':' && s[op-1] == ':') {
			return false // !=, <=, >=, ==, ::
		}
		e := op
		if e > lo && s[e] == '=' && s[e-1] == ':' {
			e-- // :=
		}
		for e > lo && (s[e-1] == ' ' || s[e-1] == '\t') {
			e--
		}
		if e > lo && (s[e-1] == '"' || s[e-1] == '\'') {
			e--
		}
		n := e
		for n > lo && isNameChar(s[n-1]) {
			n--
		}
		return n < e && !encodedFlag(s[n:e])
	case k < v:
		// The word before the spaces must be a flag on its own.
		n := k
		for n > lo && isNameChar(s[n-1]) {
			n--
		}
		if p := before(s, n, lo); p != 0 && !isSpace(p) && p != '"' && p != '\'' {
			return false
		}
		f := s[n:k]
		name := strings.TrimLeft(f, "-")
		dashes := len(f) - len(name)
		// One or two letters after one dash are short options, often
		// bundled (tar -xf FILE): their values are file names as often as not.
		return name != "" && isAlpha(name[0]) && (dashes == 1 && len(name) > 2 || dashes == 2) && !encodedFlag(name)
	}
	return false
}

// encodedFlag reports whether name (dashes trimmed or not) is PowerShell's
// -EncodedCommand or -EncodedArguments, or one of their abbreviations.
func encodedFlag(name string) bool {
	name = strings.TrimLeft(name, "-")
	if strings.EqualFold(name, "ec") || strings.EqualFold(name, "ea") {
		return true
	}
	return len(name) >= 2 && (hasPrefixFold("encodedcommand", name) || hasPrefixFold("encodedarguments", name))
}

// tokenLike reports whether a run of letters and digits looks like an id or
// a key rather than a word or a file digest.
func tokenLike(t string) bool {
	if len(t) < minValueToken || !mixedClasses(t) || wordLike(t) {
		return false
	}
	switch len(t) {
	case 40, 56, 64, 96, 128:
		for i := 0; i < len(t); i++ {
			if !isHexByte(t[i]) {
				return true
			}
		}
		return false
	}
	return true
}

// wordLike reports whether at least two thirds of t are words: runs of
// three or more letters, lower-case but for the first, of which at least
// one in five is a vowel ("Network", "Service", "Html" is not). Random
// tokens in base 62 pass with a chance below 1%, lower-case ones in base 36
// with about 1 in 10.
func wordLike(t string) bool {
	words := 0
	for i := 0; i < len(t); {
		j := i
		if isUpper(t[j]) {
			j++
		}
		k := j
		vowels := 0
		for k < len(t) && isLower(t[k]) {
			if strings.IndexByte("aeiouy", t[k]) >= 0 {
				vowels++
			}
			k++
		}
		if i < j && strings.IndexByte("AEIOUY", t[i]) >= 0 {
			vowels++
		}
		if k-j >= 2 && k-i >= 3 && vowels > 0 && vowels*5 >= k-i {
			words += k - i
		}
		if k == i {
			k++
		}
		i = k
	}
	return words*3 >= len(t)*2
}

// ---- random-looking tokens -----------------------------------------------
//
// Session ids, API keys, password-reset and sharing links carry a random
// token: whoever holds it holds the account or the document. A token here is
// a run of 16 or more letters and digits with at least 3.5 bits of entropy
// per character that mixes letters and digits, or upper and lower case
// switching as often as random text does (so that "ServiceWorkerRegistration"
// is kept). Dashes, dots and underscores split runs so that slugs such as
// "report-2024-final" are kept.

func findRandomRun(s string, from int) (int, int) { return findAlnumRun(s, from, looksRandom) }

// findAlnumRun finds the next maximal run of letters and digits from from on
// that match accepts.
func findAlnumRun(s string, from int, match func(string) bool) (int, int) {
	return findRun(s, from, isAlnum, func(i, j int) bool { return match(s[i:j]) })
}

// findRun finds the next maximal run of bytes in a class from from on whose
// span match accepts.
func findRun(s string, from int, in func(byte) bool, match func(i, j int) bool) (int, int) {
	for i := from; i < len(s); {
		if !in(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && in(s[j]) {
			j++
		}
		if match(i, j) {
			return i, j
		}
		i = j
	}
	return -1, -1
}

func looksRandom(s string) bool {
	return len(s) >= 16 && mixedClasses(s) && entropy(s) >= 3.5
}

// mixedClasses reports whether a run of letters and digits mixes character
// classes the way keys and tokens do: digits with letters, or upper and
// lower case switching often (words switch rarely).
func mixedClasses(s string) bool {
	var digit, upper, lower bool
	switches := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		digit = digit || isDigit(c)
		upper = upper || isUpper(c)
		lower = lower || isLower(c)
		if i > 0 && isAlpha(c) && isAlpha(s[i-1]) && isUpper(c) != isUpper(s[i-1]) {
			switches++
		}
	}
	return digit && (upper || lower) || upper && lower && switches*4 >= len(s)
}

// entropy returns the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]uint32
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	h := 0.0
	for i := 0; i < len(s); i++ {
		if c := counts[s[i]]; c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
			counts[s[i]] = 0
		}
	}
	return h
}

// ---- Windows security identifiers ----------------------------------------
//
// A domain or machine SID (S-1-5-21-…) names one account on one machine; an
// Azure AD SID (S-1-12-1-…) one cloud account. Well-known SIDs such as
// S-1-5-18 (SYSTEM) are kept: they name no one.

func findSID(s string, from int) (int, int) {
	for from < len(s) {
		j := strings.Index(s[from:], "S-1-")
		if j < 0 {
			return -1, -1
		}
		i := from + j
		if isAlnum(before(s, i, from)) {
			from = i + 1
			continue
		}
		var p int
		switch {
		case strings.HasPrefix(s[i:], "S-1-5-21-"):
			p = i + len("S-1-5-21-")
		case strings.HasPrefix(s[i:], "S-1-12-1-"):
			p = i + len("S-1-12-1-")
		default:
			from = i + 1
			continue
		}
		groups, e := 0, p
		for {
			k := e
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			if k == e {
				break
			}
			groups++
			e = k
			if e+1 < len(s) && s[e] == '-' && isDigit(s[e+1]) {
				e++
				continue
			}
			break
		}
		if groups >= 3 && (e == len(s) || !isAlnum(s[e])) {
			return i, e
		}
		from = i + 1
	}
	return -1, -1
}

// ---- payment cards -------------------------------------------------------
//
// A card number is 13 to 19 digits, written plain or in groups separated by
// single spaces or dashes, that passes the Luhn check. Numbers that fail it
// are kept: they are not cards.

func findCard(s string, from int) (int, int) {
	var gs, ge [24]int
	for i := from; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		// i starts a run: digit groups joined by single separators.
		n := 0
		j := i
		for {
			k := j
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			gs[n], ge[n] = j, k
			n++
			j = k
			if n < len(gs) && j+1 < len(s) && (s[j] == ' ' || s[j] == '-') && isDigit(s[j+1]) {
				j++
				continue
			}
			break
		}
		for a := 0; a < n; a++ {
			best, total := -1, 0
			for b := a; b < n; b++ {
				total += ge[b] - gs[b]
				if total > 19 {
					break
				}
				if total >= 13 && luhn(s[gs[a]:ge[b]]) {
					best = b
				}
			}
			if best >= 0 {
				return gs[a], ge[best]
			}
		}
		i = j
	}
	return -1, -1
}

// luhn reports whether the digits of s (separators skipped) pass the Luhn check.
func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// ---- IBANs -----------------------------------------------------------------
//
// An IBAN names a bank account and, through it, its holder. It is two letters
// of a country that uses IBANs, two check digits and the country's fixed
// number of letters and digits, printed plain or in groups separated by
// single spaces, and it passes the ISO 13616 mod-97 check. Numbers that fail
// it are kept.

var ibanLen = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
	"BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
	"DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
	"FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
	"GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
	"IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
	"LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
	"MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
	"SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
	"SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
	"YE": 30,
}

func findIBAN(s string, from int) (int, int) {
	var buf [34]byte
	for i := from; i+15 <= len(s); i++ {
		if !isUpper(s[i]) || !isUpper(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || isAlnum(before(s, i, from)) {
			continue
		}
		want := ibanLen[s[i:i+2]]
		if want == 0 {
			continue
		}
		n, j := 0, i
		for j < len(s) && n < want {
			c := s[j]
			if isDigit(c) || isUpper(c) {
				buf[n] = c
				n++
				j++
				continue
			}
			if c == ' ' && j+1 < len(s) && (isDigit(s[j+1]) || isUpper(s[j+1])) {
				j++
				continue
			}
			break
		}
		if n != want || j < len(s) && isAlnum(s[j]) || !ibanChecksum(buf[:n]) {
			continue
		}
		return i, j
	}
	return -1, -1
}

// ibanChecksum reports whether b passes the ISO 7064 mod-97-10 check: moved
// four characters to the end, letters as 10–35, the number mod 97 is 1.
func ibanChecksum(b []byte) bool {
	r := 0
	for k := 0; k < len(b); k++ {
		c := b[(k+4)%len(b)]
		switch {
		case isDigit(c):
			r = (r*10 + int(c-'0')) % 97
		case isUpper(c):
			r = (r*100 + int(c-'A') + 10) % 97
		default:
			return false
		}
	}
	return r == 1
}

// ---- phone numbers ----------------------------------------------------------
//
// Phone numbers name people. Recognized: international numbers (+ or 00, 8 to
// 15 digits), North American numbers (NPA-NXX-XXXX, with or without a leading
// 1 and parentheses) and national numbers that start with a trunk 0 (9 to 12
// digits in two or more groups). Plain runs of digits and numbers in other
// shapes are kept: in command lines they are sizes, ports, counts and
// timestamps far more often than phones, and dates (01.02.2024) are kept.

func isPhoneSep(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')'
}

func findPhone(s string, from int) (int, int) {
	var groups [16]int
	for i := from; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && c != '+' && c != '(' {
			continue
		}
		p := before(s, i, from)
		if isAlnum(p) || p == '.' || p == '-' || p == '/' || p == '+' || p == '(' || p == ')' ||
			p == ' ' && i-2 >= from && isDigit(s[i-2]) {
			continue
		}
		// The run: an optional '+', then digits and separators, no double space.
		j := i
		if s[j] == '+' {
			j++
		}
		end, ng, digits := -1, 0, 0
		for j < len(s) {
			c := s[j]
			if isDigit(c) {
				k := j
				for k < len(s) && isDigit(s[k]) {
					k++
				}
				if ng < len(groups) {
					groups[ng] = k - j
				}
				ng++
				digits += k - j
				j, end = k, k
				continue
			}
			if isPhoneSep(c) && !(c == ' ' && j+1 < len(s) && s[j+1] == ' ') {
				j++
				continue
			}
			break
		}
		if end < 0 {
			continue
		}
		if end < len(s) && (isAlnum(s[end]) || s[end] == '@') {
			i = j - 1 // s[j] may start a number of its own
			continue
		}
		if ng > len(groups) {
			ng = len(groups)
		}
		if isPhone(s[i:end], groups[:ng], digits) {
			return i, end
		}
		i = j - 1
	}
	return -1, -1
}

func isPhone(r string, groups []int, digits int) bool {
	switch {
	case r[0] == '+':
		return digits >= 8 && digits <= 15 && (len(r) < 2 || isDigit(r[1]) || r[1] == '(')
	case strings.HasPrefix(r, "00"):
		return digits >= 10 && digits <= 17 && len(groups) >= 2
	case eqInts(groups, 3, 3, 4) || eqInts(groups, 1, 3, 3, 4) && r[0] == '1':
		return nanpSeps(r)
	case r[0] == '0' || strings.HasPrefix(r, "(0"):
		if digits < 9 || digits > 12 || len(groups) < 2 {
			return false
		}
		for _, g := range groups {
			if g < 2 {
				return false
			}
		}
		// dd.mm.yyyy and dd.mm.yy are dates, not phones.
		if groups[0] <= 2 && groups[1] <= 2 && (len(groups) >= 3 && groups[2] == 4 || len(groups) == 3 && groups[2] == 2) {
			return false
		}
		return true
	}
	return false
}

func eqInts(g []int, want ...int) bool {
	if len(g) != len(want) {
		return false
	}
	for i := range g {
		if g[i] != want[i] {
			return false
		}
	}
	return true
}

// nanpSeps reports whether a 3-3-4 number is written the North American way:
// "(555) 123-4567", "555-123-4567", "555.123.4567", "555 123 4567".
func nanpSeps(r string) bool {
	seps := 0
	for i := 0; i < len(r); i++ {
		if !isDigit(r[i]) {
			seps++
		}
	}
	return seps >= 2 && !strings.Contains(r, "/")
}

// ---- IP addresses ---------------------------------------------------------
//
// Addresses in text locate a device and often its owner's home. Loopback and
// unspecified addresses (127.0.0.1, 0.0.0.0, ::1, ::) name no one and are kept.

func findIPv4(s string, from int) (int, int) {
	for i := from; i < len(s); i++ {
		if !isDigit(s[i]) {
			continue
		}
		p := before(s, i, from)
		if isAlnum(p) || p == '.' {
			for i < len(s) && (isAlnum(s[i]) || s[i] == '.') {
				i++
			}
			continue
		}
		j := i
		var oct [4]int
		okAddr := true
		for o := 0; o < 4; o++ {
			k, v := j, 0
			for k < len(s) && k-j < 3 && isDigit(s[k]) {
				v = v*10 + int(s[k]-'0')
				k++
			}
			if k == j || v > 255 {
				okAddr = false
				break
			}
			oct[o], j = v, k
			if o < 3 {
				if j >= len(s) || s[j] != '.' {
					okAddr = false
					break
				}
				j++
			}
		}
		if !okAddr || j < len(s) && (isAlnum(s[j]) || s[j] == '.' && j+1 < len(s) && isDigit(s[j+1])) {
			for i < len(s) && (isAlnum(s[i]) || s[i] == '.') {
				i++
			}
			continue
		}
		if oct[0] == 127 || oct == [4]int{} {
			i = j
			continue
		}
		return i, j
	}
	return -1, -1
}

func isV6Char(c byte) bool { return isHexByte(c) || c == ':' || c == '.' }

func findIPv6(s string, from int) (int, int) {
	for i := from; i < len(s); i++ {
		if !isV6Char(s[i]) {
			continue
		}
		p := before(s, i, from)
		j := i
		for j < len(s) && isV6Char(s[j]) {
			j++
		}
		if isAlnum(p) || p == '_' || j < len(s) && (isAlnum(s[j]) || s[j] == '_') {
			i = j
			continue
		}
		if e := v6End(s[i:j]); e > 0 {
			return i, i + e
		}
		i = j
	}
	return -1, -1
}

// v6End returns the length of the IPv6 address that r is, allowing one
// trailing '.' or ':' of the surrounding sentence, or 0.
func v6End(r string) int {
	colons, digit := 0, false
	for i := 0; i < len(r); i++ {
		colons += b2i(r[i] == ':')
		digit = digit || isDigit(r[i])
	}
	if colons < 2 || !digit {
		return 0
	}
	for _, t := range []string{r, strings.TrimRight(r, ".:")} {
		a, err := netip.ParseAddr(t)
		if err == nil && a.Is6() {
			if u := a.Unmap(); u.IsLoopback() || u.IsUnspecified() {
				return 0
			}
			return len(t)
		}
	}
	return 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---- MAC addresses --------------------------------------------------------
//
// A MAC address names one network card for its whole life: a device identifier.

func findMAC(s string, from int) (int, int) {
	for i := from; i+17 <= len(s); i++ {
		if !isHexByte(s[i]) {
			continue
		}
		sep := s[i+2]
		if sep != ':' && sep != '-' {
			continue
		}
		ok := true
		for g := 0; g < 6 && ok; g++ {
			k := i + 3*g
			ok = isHexByte(s[k]) && isHexByte(s[k+1]) && (g == 5 || s[k+2] == sep)
		}
		if !ok {
			continue
		}
		p := before(s, i, from)
		if isAlnum(p) || p == ':' || p == '-' {
			continue
		}
		if e := i + 17; e < len(s) && (isAlnum(s[e]) || s[e] == sep) {
			continue
		}
		return i, i + 17
	}
	return -1, -1
}

// ---- remote logins ----------------------------------------------------------
//
// "ssh alice@host", "scp f alice@host:/tmp", "rsync … alice@host:…": the user
// name on the remote host names a person as surely as a home folder does.
// Only in texts that run ssh, scp, sftp or rsync: elsewhere "name@thing" is a
// package version (pkg@1.2.3) or an image digest (image@sha256:…). The
// generic account of git hosting (git@github.com) is kept.

func findLoginUser(s string, from int) (int, int) {
	for i := from; i < len(s); i++ {
		if s[i] != '@' || i+1 >= len(s) || !isAlnum(s[i+1]) {
			continue
		}
		l := i
		for l > from && (isAlnum(s[l-1]) || s[l-1] == '.' || s[l-1] == '_' || s[l-1] == '-') && i-l < 64 {
			l--
		}
		if l == i || s[l] == '-' || s[l] == '.' || s[i-1] == '.' || s[l:i] == "git" {
			continue
		}
		if l > from && !(isSpace(s[l-1]) || s[l-1] == '"' || s[l-1] == '\'' || s[l-1] == '=' || s[l-1] == '/') {
			continue
		}
		return l, i
	}
	return -1, -1
}

func runsLogin(s string) bool {
	return containsFold(s, "ssh") || containsFold(s, "scp") || containsFold(s, "sftp") || containsFold(s, "rsync")
}
