// Package scrub depersonalizes what Herd handles: URLs, file paths, command
// lines and free text, IP addresses and file hashes. The agent applies it to
// every value before anything is queued, and the cloud applies it again before
// anything is stored, so that a value an old or tampered agent failed to scrub
// is still caught (the cloud counts those second-pass hits as a metric).
//
// Every function protects the people on whose devices the agents run — their
// identities, accounts, credentials and whereabouts — from anyone who reads
// Herd's telemetry: the operators of the cloud, analysts, whoever receives a
// published statistic, and an attacker who breaches the store.
//
// Every function is idempotent (f(f(x)) == f(x)) and fails closed: a value that
// cannot be parsed is dropped (ok == false), never passed through.
package scrub

import (
	"net/netip"
	"strings"

	"github.com/herdsec/herd"
)

// Rule names how a field is scrubbed. The data inventory assigns one to every
// field that may leave a device.
type Rule string

const (
	RuleURL  Rule = "url"  // URL: telemetry URLs
	RulePath Rule = "path" // Path: file paths
	RuleText Rule = "text" // Text: command lines and free text
	RuleIP   Rule = "ip"   // IP: addresses truncated to /24 and /48
	RuleHash Rule = "hash" // a file digest: lower-case hex of 32, 40 or 64 digits
	RuleNone Rule = "none" // unchanged: only for values that cannot carry personal data
)

// Rules lists every rule.
var Rules = []Rule{RuleURL, RulePath, RuleText, RuleIP, RuleHash, RuleNone}

// Valid reports whether r is one of the rules.
func (r Rule) Valid() bool {
	for _, k := range Rules {
		if r == k {
			return true
		}
	}
	return false
}

// ParseRule returns the rule named s, or EINVALID.
func ParseRule(s string) (Rule, error) {
	if r := Rule(s); r.Valid() {
		return r, nil
	}
	return "", herd.Errorf(herd.EINVALID, "scrub rule %q: unknown (want url, path, text, ip, hash or none)", s)
}

// Apply scrubs v by rule. hits counts what was removed or replaced; ok=false
// means v must be dropped (it does not parse for its rule, or the rule is
// unknown) and out is then "".
func Apply(rule Rule, v string) (out string, hits int, ok bool) {
	switch rule {
	case RuleURL:
		return URL(v)
	case RulePath:
		out, hits = Path(v)
		return out, hits, true
	case RuleText:
		out, hits = Text(v)
		return out, hits, true
	case RuleIP:
		out, ok = IP(v)
		if ok && truncates(v) {
			hits = 1
		}
		return out, hits, ok
	case RuleHash:
		out, ok = Hash(v)
		return out, 0, ok
	case RuleNone:
		return v, 0, true
	}
	return "", 0, false // an unknown rule protects nothing: drop
}

// Hash returns v as lower-case hex if it is an MD5, SHA-1 or SHA-256 digest
// (32, 40 or 64 hex digits). Anything else is dropped: a field declared to hold
// a digest must not become a channel for other data.
func Hash(v string) (string, bool) {
	switch len(v) {
	case 32, 40, 64:
	default:
		return "", false
	}
	b := []byte(nil)
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			if b == nil {
				b = []byte(v)
			}
			b[i] = c + ('a' - 'A')
		default:
			return "", false
		}
	}
	if b == nil {
		return v, true
	}
	return string(b), true
}

// truncates reports whether IP(v) removes address bits from v.
func truncates(v string) bool {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return false
	}
	a = a.WithZone("").Unmap()
	p, err := a.Prefix(prefixBits(a))
	return err == nil && p.Addr() != a
}

// placeholders are the words this package writes in place of what it removes,
// as "<word>" or "<secret:rule>". No detector matches them, so scrubbing twice
// changes nothing.
var placeholders = []string{
	"<email>", "<phone>", "<card>", "<iban>", "<ip>", "<mac>", "<uuid>", "<sid>",
	"<user>", "<token>", "<number>", "<host>", "<share>",
}

// placeholderAt returns the length of the placeholder that starts at s[i], or 0.
func placeholderAt(s string, i int) int {
	if i >= len(s) || s[i] != '<' {
		return 0
	}
	rest := s[i:]
	if strings.HasPrefix(rest, "<secret:") {
		j := len("<secret:")
		for j < len(rest) && j < 80 && isRuleChar(rest[j]) {
			j++
		}
		if j > len("<secret:") && j < len(rest) && rest[j] == '>' {
			return j + 1
		}
		return 0
	}
	for _, p := range placeholders {
		if strings.HasPrefix(rest, p) {
			return len(p)
		}
	}
	return 0
}

// isPlaceholder reports whether s is exactly one placeholder.
func isPlaceholder(s string) bool { return s != "" && placeholderAt(s, 0) == len(s) }

func isRuleChar(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func secretPlaceholder(rule string) string {
	b := make([]byte, 0, len(rule)+9)
	b = append(b, "<secret:"...)
	for i := 0; i < len(rule) && i < 64; i++ {
		c := rule[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if !isRuleChar(c) {
			c = '-'
		}
		b = append(b, c)
	}
	if len(b) == len("<secret:") {
		b = append(b, "unknown"...)
	}
	return string(append(b, '>'))
}
