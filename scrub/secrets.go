package scrub

import (
	"sort"
	"strings"
	"sync"

	ahocorasick "github.com/BobuSumisu/aho-corasick"
	"github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/report"
)

// Secrets — API keys, access tokens, passwords — give whoever reads them the
// account they open. Herd must never hold its users' credentials: a breach of
// the telemetry store would hand them to the attacker, and an operator has no
// business seeing them. They are found with gitleaks' rules (v8.30.1, 222 of
// them) and replaced by "<secret:RULE-ID>".
//
// Cost. One DetectString call with gitleaks' default detector costs about
// 6 µs even when no rule applies (it walks all 222 rules), and 50–300 µs when
// its generic-api-key rule runs — and gitleaks' own keyword prefilter lets
// that rule run on any text holding "key", "api", "auth", "token", "access"…:
// most command lines. Far too slow for every event. So each rule gets a
// detector of its own (built from the default configuration: same regular
// expression, entropy threshold, keywords and allowlists), and a text is run
// only through the detectors of the rules that could match it:
//
//   - a rule runs only if one of its keywords occurs in the lower-cased text:
//     exactly gitleaks' own prefilter, applied before the call instead of in it;
//   - the rules whose keywords are common in command lines run only if what
//     their regular expression requires is there (see preconditions.go).
//     generic-api-key, the costliest, runs only if one of its keywords is
//     followed, as its expression requires, by an operator (=, :, >, ||, ?=,
//     ",") and then by a run of value characters with at least 12 distinct
//     characters: its entropy threshold (3.5 bits) cannot be met with fewer
//     (log2(11) < 3.5).
//
// These checks only drop calls that could not find anything, so what is
// replaced is what DetectString with the default detector finds (rules on
// file names, which never match a text, are left out; web URLs are scrubbed
// by URL before and are not shown to gitleaks; FuzzText and
// TestTextMatchesGitleaks check that gitleaks' whole default detector finds
// nothing in what Text returns). A text that holds none of the 244 keywords
// costs one Aho–Corasick pass. A text where a rule does run still costs
// 5–100 µs per rule (Go's regexp engine): the largest single cost in the
// benchmark mix.
//
// Concurrency. Building the detectors parses the default configuration and
// compiles ~300 regular expressions (~300 ms), so it is done once, lazily.
// In gitleaks v8.30.1, DetectString only reads the detector (configuration,
// keyword trie, allowlists) apart from an atomic byte counter, so the
// detectors are used from many goroutines without a lock; TestTextConcurrent
// runs them under the race detector. Building uses viper's global instance,
// which nothing else in Herd uses.

type secretScanner struct {
	keywords *ahocorasick.Trie   // every rule keyword, lower-case
	byWord   map[string][]int    // keyword → rules
	always   []int               // rules without keywords
	rules    []*detect.Detector  // one detector per rule, in gitleaks' order
	ids      []string            // rule ids, same order
	possible []func(string) bool // per rule, nil or a check that it could match
}

var (
	scannerOnce sync.Once
	scanner     *secretScanner
)

// Warm builds the secret detectors now (~300 ms, once per process) instead
// of on the first Text or Path call, so that a long-running agent or server
// pays it at start-up rather than on an event.
func Warm() { secretScan() }

// secretScan returns the shared scanner, or nil if gitleaks' default
// configuration cannot be loaded (then every candidate token is a secret).
func secretScan() *secretScanner {
	scannerOnce.Do(func() {
		d, err := detect.NewDetectorDefaultConfig()
		if err != nil {
			return
		}
		sc := &secretScanner{byWord: map[string][]int{}}
		var words []string
		ids := d.Config.OrderedRules
		if len(ids) == 0 {
			for id := range d.Config.Rules {
				ids = append(ids, id)
			}
			sort.Strings(ids)
		}
		for _, id := range ids {
			r, ok := d.Config.Rules[id]
			if !ok || r.Regex == nil || r.SkipReport || r.Path != nil && !r.Path.MatchString("") {
				// Rules on file names (pkcs12-file, kubernetes-secret-yaml,
				// hashicorp-tf-password…) never match a text without one.
				continue
			}
			cfg := config.Config{
				Rules:        map[string]config.Rule{id: r},
				Keywords:     map[string]struct{}{},
				OrderedRules: []string{id},
				Allowlists:   d.Config.Allowlists,
			}
			i := len(sc.rules)
			for _, k := range r.Keywords {
				k = strings.ToLower(k)
				cfg.Keywords[k] = struct{}{}
				if len(sc.byWord[k]) == 0 {
					words = append(words, k)
				}
				sc.byWord[k] = append(sc.byWord[k], i)
			}
			if len(r.Keywords) == 0 {
				sc.always = append(sc.always, i)
			}
			rd := detect.NewDetector(cfg)
			// "gitleaks:allow" in a command line must not switch scrubbing off.
			rd.IgnoreGitleaksAllow = true
			sc.rules = append(sc.rules, rd)
			sc.ids = append(sc.ids, id)
			sc.possible = append(sc.possible, rulePossible[id])
		}
		sc.keywords = ahocorasick.NewTrieBuilder().AddStrings(words).Build()
		scanner = sc
	})
	return scanner
}

// find returns what gitleaks' default detector finds in s.
func (sc *secretScanner) find(s string) []report.Finding {
	lower := strings.ToLower(s)
	var run []bool
	mark := func(i int) {
		if run == nil {
			run = make([]bool, len(sc.rules))
		}
		run[i] = true
	}
	for _, i := range sc.always {
		mark(i)
	}
	sc.keywords.Walk([]byte(lower), func(end, n, pattern int64) bool {
		for _, i := range sc.byWord[lower[end-n+1:end+1]] {
			mark(i)
		}
		return true
	})
	if run == nil {
		return nil
	}
	var out []report.Finding
	for i, ok := range run {
		if !ok || sc.possible[i] != nil && !sc.possible[i](s) {
			continue
		}
		out = append(out, sc.rules[i].DetectString(s)...)
	}
	return out
}

// secrets replaces every secret gitleaks finds in s.
func secrets(s string) (string, int) {
	sc := secretScan()
	if sc == nil {
		// Fail closed: without gitleaks, every token that could be a secret is one.
		return replaceAll(s, findSecretCandidate, secretPlaceholder("unverified"))
	}
	findings := sc.find(s)
	if len(findings) == 0 {
		return s, 0
	}
	type rep struct{ old, new string }
	reps := make([]rep, 0, len(findings))
	for _, f := range findings {
		v := f.Secret
		if len(v) < 6 {
			v = f.Match // too short to replace everywhere: take the whole match
		}
		if strings.TrimSpace(v) == "" {
			continue
		}
		reps = append(reps, rep{v, secretPlaceholder(f.RuleID)})
	}
	// Longest first, so a secret inside another is replaced with it.
	sort.Slice(reps, func(i, j int) bool {
		if len(reps[i].old) != len(reps[j].old) {
			return len(reps[i].old) > len(reps[j].old)
		}
		if reps[i].old != reps[j].old {
			return reps[i].old < reps[j].old
		}
		return reps[i].new < reps[j].new
	})
	hits := 0
	for _, r := range reps {
		if n := strings.Count(s, r.old); n > 0 {
			s = strings.ReplaceAll(s, r.old, r.new)
			hits += n
		}
	}
	return s, hits
}

// genericKeywords are generic-api-key's keywords ("passw(?:or)?d" covers
// passwd and password).
var genericKeywords = []string{"access", "auth", "api", "credential", "creds", "key", "passwd", "password", "secret", "token"}

// genericPossible reports whether generic-api-key's regular expression and
// entropy threshold could match s:
//
//	KEYWORD [ \t\w.-]{0,20} [\s'"]{0,3} OPERATOR [`'"\s=]{0,5} VALUE
//
// where VALUE is [\w.=-]{10,150} or [a-z0-9][a-z0-9+/]{11,}={0,3} (any case)
// with entropy above 3.5, hence at least 12 distinct characters. Texts with
// non-ASCII bytes are always let through: case folding could then differ.
func genericPossible(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	for _, kw := range genericKeywords {
		for from := 0; ; {
			i := indexFold(s, kw, from)
			if i < 0 {
				break
			}
			from = i + 1
			if genericAfter(s, i+len(kw)) {
				return true
			}
		}
	}
	return false
}

// indexFold returns the index of the first occurrence of kw (lower-case
// ASCII) in s at or after from, ignoring ASCII case, or -1.
func indexFold(s, kw string, from int) int {
	for i := from; i+len(kw) <= len(s); i++ {
		if s[i]|0x20 == kw[0] && strings.EqualFold(s[i:i+len(kw)], kw) {
			return i
		}
	}
	return -1
}

func isWordChar(c byte) bool { return isAlnum(c) || c == '_' }

// genericAfter checks what must follow a generic keyword ending at s[j].
func genericAfter(s string, j int) bool {
	// [ \t\w.-]{0,20}, then [\s'"]{0,3}: try every split (the regexp backtracks).
	for a := 0; a <= 20 && j+a <= len(s); a++ {
		if a > 0 {
			c := s[j+a-1]
			if !(c == ' ' || c == '\t' || isWordChar(c) || c == '.' || c == '-') {
				break
			}
		}
		for b := 0; b <= 3 && j+a+b <= len(s); b++ {
			k := j + a + b
			if b > 0 {
				c := s[k-1]
				if !(isSpace(c) || c == '\'' || c == '"') {
					break
				}
			}
			if op := operatorLen(s, k); op > 0 && genericValue(s, k+op) {
				return true
			}
		}
	}
	return false
}

// operatorLen returns the length of the longest generic-api-key operator at
// s[k] (=, >, :{1,3}=, ||, :, =>, ?=, ","), or 0. Shorter ones are checked by
// genericValue starting earlier, since '=' may also begin the value.
func operatorLen(s string, k int) int {
	if k >= len(s) {
		return 0
	}
	switch s[k] {
	case '=', '>', ',':
		return 1
	case ':':
		n := 1
		for n < 4 && k+n < len(s) && s[k+n] == ':' {
			n++
		}
		if k+n < len(s) && s[k+n] == '=' {
			return n + 1
		}
		return 1
	case '|':
		if k+1 < len(s) && s[k+1] == '|' {
			return 2
		}
	case '?':
		if k+1 < len(s) && s[k+1] == '=' {
			return 2
		}
	}
	return 0
}

// genericValue checks [`'"\s=]{0,5} then a value with 12 distinct characters.
func genericValue(s string, v int) bool {
	for t := 0; t <= 5 && v+t <= len(s); t++ {
		if t > 0 {
			c := s[v+t-1]
			if !(c == '`' || c == '\'' || c == '"' || isSpace(c) || c == '=') {
				break
			}
		}
		if distinctRun(s, v+t, func(c byte) bool { return isWordChar(c) || c == '.' || c == '=' || c == '-' }) >= 12 ||
			distinctRun(s, v+t, func(c byte) bool { return isAlnum(c) || c == '+' || c == '/' || c == '=' }) >= 12 {
			return true
		}
	}
	return false
}

// distinctRun counts the distinct bytes of the run of in-class bytes at s[i],
// up to 150 bytes.
func distinctRun(s string, i int, in func(byte) bool) int {
	var seen [4]uint64
	n := 0
	for k := i; k < len(s) && k-i < 150 && in(s[k]); k++ {
		c := s[k]
		if seen[c>>6]&(1<<(c&63)) == 0 {
			seen[c>>6] |= 1 << (c & 63)
			n++
		}
	}
	return n
}

// findSecretCandidate finds the next token that could be a secret: a run of
// 16 or more letters and digits that mixes them (or upper and lower case as
// random text does) with at least 10 distinct characters. Used only when
// gitleaks cannot be loaded.
func findSecretCandidate(s string, from int) (int, int) { return findAlnumRun(s, from, secretLike) }

func secretLike(t string) bool {
	return len(t) >= 16 && distinctRun(t, 0, isAlnum) >= 10 && mixedClasses(t)
}

// awsKeyIDLen is the length of an AWS access key id.
const awsKeyIDLen = 20

// findAWSKeyID finds AWS access key ids by their shape alone: AKIA (a user's
// long-term key), ASIA (temporary, from STS), ABIA, ACCA or A3T and one more
// letter or digit, then letters and digits 2–7 up to 20 characters — gitleaks'
// aws-access-token expression. gitleaks also requires 3 bits of entropy and
// lets ids ending in EXAMPLE through, so ids such as AKIAIOSFODNN7EXAMPLE
// or AKIAAAAAAAAAAAAAAAAA would pass. An access key id is half of a
// credential and names its account whatever its entropy, so every id of
// this shape is replaced. An underscore ends an id here, as it does not in
// gitleaks (\b): "key_AKIA…" is an id too.
func findAWSKeyID(s string, from int) (int, int) {
	for i := from; i+awsKeyIDLen <= len(s); i++ {
		k := strings.IndexByte(s[i:len(s)-awsKeyIDLen+1], 'A')
		if k < 0 {
			break
		}
		i += k
		e := i + awsKeyIDLen
		if strings.IndexByte("KSBC3", s[i+1]) >= 0 && isAWSKeyID(s[i:e]) && !isAlnum(before(s, i, from)) && (e == len(s) || !isAlnum(s[e])) {
			return i, e
		}
	}
	return -1, -1
}

// isAWSKeyID reports whether t (20 bytes) has the shape of an access key id.
func isAWSKeyID(t string) bool {
	switch t[:4] {
	case "AKIA", "ASIA", "ABIA", "ACCA":
	default:
		if t[:3] != "A3T" || !isUpper(t[3]) && !isDigit(t[3]) {
			return false
		}
	}
	for j := 4; j < len(t); j++ {
		if c := t[j]; !isUpper(c) && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}
