package scrub

import (
	"bytes"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/herdsec/herd"
)

// maxURLLen bounds the URLs URL accepts. Longer ones are dropped rather than
// cut: a cut could end inside an escape or a token.
const maxURLLen = 8192

// maxNesting bounds how deep URLs inside query values are scrubbed.
const maxNesting = 3

// URL scrubs a URL for telemetry, keeping what a reputation analyst needs —
// scheme, host, port, path, harmless query parameters — and removing what
// identifies or authenticates the person who visited it:
//
//   - user information (https://user:password@host/) — credentials;
//   - query parameters whose name says they carry a session, token, key,
//     signature, password, e-mail, user or account id, OAuth code or state,
//     personal details or free text typed by the user (see sensitiveParam);
//   - query parameters whose value looks like one of those whatever its name:
//     an e-mail address, a JWT, a UUID, a run of six or more digits, a random
//     token, a phone, card or IBAN number, an IP or MAC address;
//   - tracking parameters (utm_*, fbclid, gclid, …), which are per-click ids;
//   - in path segments, the same shapes, replaced by <email>, <uuid>,
//     <number>, <token>, <phone>, <card>, <iban>, <ip>, <mac>, <sid>;
//   - the fragment, which carries OAuth tokens (#access_token=…) and
//     client-side state.
//
// URLs inside query values (redirect_uri=https://…) are scrubbed the same way.
// Surviving parameters keep their order and their encoding. Scheme and host
// are lower-cased; an internationalized host becomes punycode. Only web URLs
// (http, https, ws, wss, ftp) with a host are accepted; anything else, or
// anything net/url cannot parse, or a host name with six or more digits in a
// row, is dropped (ok=false).
func URL(raw string) (out string, hits int, ok bool) { return scrubURL(raw, 0) }

var webSchemes = map[string]bool{"http": true, "https": true, "ws": true, "wss": true, "ftp": true}

func scrubURL(raw string, depth int) (string, int, bool) {
	if raw == "" || len(raw) > maxURLLen || !utf8.ValidString(raw) {
		return "", 0, false
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c == 0x7f {
			return "", 0, false
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" || !webSchemes[u.Scheme] {
		return "", 0, false
	}
	// net/url has checked the URL; split the raw text the way it does, to
	// keep the encoding of what survives.
	rest := raw[len(u.Scheme)+1:]
	if !strings.HasPrefix(rest, "//") {
		return "", 0, false
	}
	rest = rest[2:]
	hits := 0
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		if i+1 < len(rest) {
			hits++
		}
		rest = rest[:i]
	}
	query, hasQuery := "", false
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		query, hasQuery = rest[i+1:], true
		rest = rest[:i]
	}
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if strings.IndexByte(authority, '@') >= 0 {
		hits++
	}
	host, ok := urlHost(u)
	if !ok {
		return "", 0, false
	}
	var b strings.Builder
	b.Grow(len(raw))
	b.WriteString(u.Scheme)
	b.WriteString("://")
	b.WriteString(host)
	n, ok := writePath(&b, path)
	if !ok {
		return "", 0, false
	}
	hits += n
	if hasQuery {
		hits += writeQuery(&b, query, depth)
	}
	return b.String(), hits, true
}

// urlHost returns the lower-case host and port of u: an IP address in its
// canonical form, or a domain name in ASCII (punycode).
func urlHost(u *url.URL) (string, bool) {
	name := u.Hostname()
	var host string
	if a, err := netip.ParseAddr(name); err == nil {
		if a.Zone() != "" {
			return "", false
		}
		a = a.Unmap()
		host = a.String()
		if a.Is6() {
			host = "[" + host + "]"
		}
	} else if strings.HasPrefix(u.Host, "[") {
		return "", false
	} else if d, ok := plainDomain(name); ok {
		host = d
	} else if d, err := herd.NormalizeDomain(name); err == nil && !numericLabel(d) {
		host = d
	} else {
		return "", false
	}
	if p := u.Port(); p != "" {
		// A port is at most 65535: a longer run of digits there is no
		// port, and may be a number that identifies someone.
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || len(p) > 5 {
			return "", false
		}
		host += ":" + strconv.FormatUint(n, 10)
	}
	return host, true
}

// plainDomain lower-cases the common host name that needs no IDNA
// processing: ASCII letters, digits, '-' and '_' in labels of 1 to 63
// bytes, no "--" (punycode), no digit run of six or more. Anything else goes
// through herd.NormalizeDomain.
func plainDomain(name string) (string, bool) {
	if name == "" || len(name) > 253 || strings.Contains(name, "--") || numericLabel(name) {
		return "", false
	}
	label, upper := 0, false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
			continue
		case isUpper(c):
			upper = true
		case isLower(c) || isDigit(c) || c == '-' || c == '_':
		default:
			return "", false
		}
		if label++; label > 63 {
			return "", false
		}
	}
	if label == 0 {
		return "", false
	}
	if upper {
		return strings.ToLower(name), true
	}
	return name, true
}

// numericLabel reports whether a domain holds a run of six or more digits:
// such host names carry account, customer or card numbers
// (u1234567.ct.sendgrid.net) more often than anything else. A host cannot
// be partly replaced, so the URL is dropped.
func numericLabel(d string) bool {
	st, _ := findDigitRun(d, 0)
	return st >= 0
}

// writePath writes the path with the identifiers in its segments replaced.
func writePath(b *strings.Builder, path string) (int, bool) {
	hits := 0
	for len(path) > 0 {
		// path starts with '/'
		b.WriteByte('/')
		path = path[1:]
		seg := path
		if i := strings.IndexByte(path, '/'); i >= 0 {
			seg, path = path[:i], path[i:]
		} else {
			path = ""
		}
		if seg == "" {
			continue
		}
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return 0, false
		}
		out, n := scrubValue(dec)
		// A segment is text to gitleaks too ("/credential,0123456789AB"):
		// what its rules find there goes like anywhere else.
		var k int
		out, k = secrets(out)
		n += k
		if n == 0 {
			b.WriteString(seg)
			continue
		}
		hits += n
		escapeSegment(b, out)
	}
	return hits, true
}

// valueFinders are the shapes that identify a person in a path segment or a
// query value, in the order they are looked for, each with its placeholder.
var valueFinders = []struct {
	find finder
	repl string
}{
	{findEmail, "<email>"},
	{findJWT, "<token>"},
	{findSID, "<sid>"},
	{findUUID, "<uuid>"},
	{findIBAN, "<iban>"},
	{findCard, "<card>"},
	{findPhone, "<phone>"},
	{findIPv6, "<ip>"},
	{findIPv4, "<ip>"},
	{findMAC, "<mac>"},
	{findDigitRun, "<number>"},
	{findRandomRun, "<token>"},
}

// scrubValue replaces the identifying shapes in a decoded segment or value.
func scrubValue(v string) (string, int) {
	hits := 0
	for i := 0; i < maxLoop; i++ {
		n := 0
		for _, f := range valueFinders {
			var k int
			v, k = replaceAll(v, f.find, f.repl)
			n += k
		}
		hits += n
		if n == 0 {
			break
		}
	}
	return v, hits
}

// hasIdentifier reports whether a decoded value holds any identifying shape.
func hasIdentifier(v string) bool {
	for _, f := range valueFinders {
		if st, _ := f.find(v, 0); st >= 0 {
			return true
		}
	}
	return false
}

// hasSecret reports whether gitleaks' rules find a secret in a decoded
// parameter, read as the text "key=value".
func hasSecret(p string) bool {
	_, n := secrets(p)
	return n > 0
}

// escapeSegment writes a path segment, escaping what must be, but writing
// placeholders as they are.
func escapeSegment(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		if p := placeholderAt(s, i); p > 0 {
			b.WriteString(s[i : i+p])
			i += p - 1
			continue
		}
		c := s[i]
		if isAlnum(c) || strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

// writeQuery writes the parameters of query that survive, in order.
func writeQuery(b *strings.Builder, query string, depth int) int {
	hits, first := 0, true
	for query != "" {
		p := query
		if i := strings.IndexByte(query, '&'); i >= 0 {
			p, query = query[:i], query[i+1:]
		} else {
			query = ""
		}
		if p == "" {
			continue
		}
		kept, n, ok := scrubParam(p, depth)
		if !ok {
			hits++
			continue
		}
		hits += n
		if first {
			b.WriteByte('?')
			first = false
		} else {
			b.WriteByte('&')
		}
		b.WriteString(kept)
	}
	return hits
}

// scrubParam returns the parameter to keep, possibly with a nested URL
// scrubbed (and what was removed from it), or false if it must go. A parameter that does not decode goes:
// what it holds cannot be checked.
func scrubParam(p string, depth int) (string, int, bool) {
	rawKey, rawVal, _ := strings.Cut(p, "=")
	key, err := url.QueryUnescape(rawKey)
	if err != nil {
		return "", 0, false
	}
	val, err := url.QueryUnescape(rawVal)
	if err != nil {
		return "", 0, false
	}
	if trackingParam(key) || sensitiveParam(key) || hasIdentifier(key) {
		return "", 0, false
	}
	if hasPrefixFold(val, "http://") || hasPrefixFold(val, "https://") ||
		hasPrefixFold(val, "ws://") || hasPrefixFold(val, "wss://") || hasPrefixFold(val, "ftp://") {
		if depth+1 >= maxNesting {
			return "", 0, false
		}
		out, n, ok := scrubURL(val, depth+1)
		if !ok {
			return "", 0, false
		}
		if n == 0 {
			return p, 0, true
		}
		return rawKey + "=" + url.QueryEscape(out), n, true
	}
	if hasIdentifier(val) || nestedSensitive(val) || hasSecret(key+"="+val) {
		return "", 0, false
	}
	return p, 0, true
}

// nestedSensitive reports whether a value that is itself a query or a path
// with one (next=/login?session=…) holds a sensitive parameter.
func nestedSensitive(v string) bool {
	if strings.IndexByte(v, '=') < 0 {
		return false
	}
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == '?' || r == '&' || r == ';' || r == '#' }) {
		if k, _, ok := strings.Cut(part, "="); ok && (sensitiveParam(k) || trackingParam(k)) {
			return true
		}
	}
	return false
}

// trackingParams are per-click or per-recipient identifiers added by ad and
// mail platforms: they link a visit to a campaign recipient or an ad click.
var trackingParams = map[string]bool{
	"fbclid": true, "gclid": true, "dclid": true, "gbraid": true, "wbraid": true, "gclsrc": true,
	"msclkid": true, "mc_eid": true, "mc_cid": true, "igshid": true, "_ga": true, "_gl": true,
	"yclid": true, "twclid": true, "ttclid": true, "li_fat_id": true, "_hsenc": true, "_hsmi": true,
	"__hssc": true, "__hstc": true, "__hsfp": true, "hsctatracking": true, "mkt_tok": true,
	"vero_id": true, "vero_conv": true, "oly_enc_id": true, "oly_anon_id": true, "rb_clickid": true,
	"s_cid": true, "ef_id": true, "srsltid": true, "_openstat": true, "wickedid": true,
	"irclickid": true, "epik": true, "sc_cid": true, "mibextid": true, "si": true,
}

func trackingParam(key string) bool {
	k := strings.ToLower(key)
	return strings.HasPrefix(k, "utm_") || trackingParams[k]
}

// sensitiveWords are the words of a parameter name that say its value
// identifies or authenticates someone, or is text they typed: sessions,
// tokens, keys, signatures, passwords, OAuth codes and state, e-mail, user and
// account ids, personal details, search terms (what people search for is
// personal and often sensitive, and reputation does not need it).
var sensitiveWords = map[string]bool{
	"session": true, "sessionid": true, "sessid": true, "sid": true, "token": true,
	"auth": true, "key": true, "apikey": true, "signature": true, "sig": true,
	"password": true, "pass": true, "passwd": true, "pwd": true, "secret": true,
	"email": true, "mail": true, "user": true, "username": true, "userid": true, "uid": true,
	"login": true, "account": true, "acct": true, "customer": true, "member": true,
	"code": true, "state": true, "nonce": true, "verifier": true, "challenge": true,
	"jwt": true, "otp": true, "pin": true, "ticket": true, "saml": true,
	"samlrequest": true, "samlresponse": true, "relaystate": true, "assertion": true,
	"csrf": true, "xsrf": true, "cookie": true, "credential": true, "credentials": true,
	"cred": true, "creds": true, "phone": true, "tel": true, "mobile": true, "msisdn": true,
	"ssn": true, "name": true, "firstname": true, "lastname": true, "fullname": true,
	"fname": true, "lname": true, "surname": true, "address": true, "street": true,
	"zip": true, "zipcode": true, "postcode": true, "postal": true, "dob": true,
	"birthdate": true, "birthday": true, "q": true, "query": true, "search": true,
	"keyword": true, "keywords": true, "text": true, "message": true, "msg": true,
	"subject": true, "body": true, "comment": true, "policy": true, "hash": true,
}

// sensitiveParts are matched anywhere in a lower-case name: they do not
// occur inside harmless words.
var sensitiveParts = []string{
	"token", "secret", "passw", "session", "sessid", "signature", "credential",
	"apikey", "api_key", "api-key", "auth", "email", "e-mail", "phone", "jwt",
}

// sensitiveParam reports whether a query parameter's name says it carries
// something that identifies or authenticates a person.
func sensitiveParam(key string) bool {
	if key == "" {
		return false
	}
	if classify(key) != kindNone {
		return true // everything Text replaces by name
	}
	var w nameWords
	if !w.split(key) {
		// Too long to split without allocating: rare, so take the slow way.
		lower := strings.ToLower(key)
		for _, p := range sensitiveParts {
			if strings.Contains(lower, p) {
				return true
			}
		}
		for _, f := range strings.FieldsFunc(lower, func(r rune) bool { return r > 0x7f || !isAlnum(byte(r)) }) {
			if sensitiveWords[f] {
				return true
			}
		}
		return false
	}
	for _, p := range sensitiveParts {
		if bytes.Contains(w.lower(), []byte(p)) {
			return true
		}
	}
	for i := 0; i < w.n; i++ {
		if sensitiveWords[string(w.word(i))] {
			return true
		}
	}
	return w.n > 1 && sensitiveWords[string(w.joined())]
}
