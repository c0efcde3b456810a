package scrub

import (
	"sort"
	"strings"
	"sync"

	"github.com/zricethezav/gitleaks/v8/detect"
)

// Secrets — API keys, access tokens, passwords — give whoever reads them the
// account they open. Herd must never hold its users' credentials: a breach of
// the telemetry store would hand them to the attacker, and an operator has no
// business seeing them. They are found with gitleaks' 222 rules and replaced
// by "<secret:RULE-ID>".
//
// Cost. gitleaks' own keyword prefilter lets most rules through on ordinary
// command lines ("key", "api", "token", "sk", "ey" are among its keywords),
// and DetectString costs about 6 µs with no keyword at all and 20–300 µs when
// a rule's regular expression runs — too slow for every event. So gitleaks
// runs only when the text holds a token that could be a secret: a run of 16
// or more letters and digits, not pure hex, with at least 10 distinct
// characters, that mixes letters and digits or upper and lower case as random
// text does. Every machine-made key that gitleaks knows has such a run
// (GitHub, AWS, Slack, Stripe, GitLab, Google, JWTs, …). What that gate lets
// pass without gitleaks: secrets shorter than 16 characters or made of words,
// which gitleaks' entropy checks would mostly let pass too. Those are caught
// by name instead (password=…, --token …, Authorization: …; see
// assignments.go) and private keys by their armor (see privateKeys).
//
// Concurrency. Building the detector parses the default configuration and
// compiles ~300 regular expressions (~250 ms), so it is built once, lazily.
// In gitleaks v8.30.1, DetectString only reads the detector (its
// configuration, its keyword trie, the allowlists) apart from an atomic byte
// counter, so it is used from many goroutines without a lock;
// TestTextConcurrent runs it under the race detector. Building it uses
// viper's global instance, which nothing else in Herd uses.

var (
	detectorOnce sync.Once
	detector     *detect.Detector
)

// secretDetector returns the shared gitleaks detector, or nil if it cannot be
// built (then every candidate token is treated as a secret).
func secretDetector() *detect.Detector {
	detectorOnce.Do(func() {
		d, err := detect.NewDetectorDefaultConfig()
		if err != nil {
			return
		}
		// "gitleaks:allow" in a command line must not switch scrubbing off.
		d.IgnoreGitleaksAllow = true
		detector = d
	})
	return detector
}

// secrets replaces every secret gitleaks finds in s.
func secrets(s string) (string, int) {
	if st, _ := findSecretCandidate(s, 0); st < 0 {
		return s, 0
	}
	d := secretDetector()
	if d == nil {
		// Fail closed: without the detector, every candidate is a secret.
		return replaceAll(s, findSecretCandidate, secretPlaceholder("unverified"))
	}
	findings := d.DetectString(s)
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

// findSecretCandidate finds the next token that could be a secret (see above).
func findSecretCandidate(s string, from int) (int, int) {
	for i := from; i < len(s); {
		if !isAlnum(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isAlnum(s[j]) {
			j++
		}
		if secretLike(s[i:j]) {
			return i, j
		}
		i = j
	}
	return -1, -1
}

func secretLike(t string) bool {
	if len(t) < 16 {
		return false
	}
	var seen [2]uint64
	var digit, upper, lower, hexOnly = false, false, false, true
	switches, distinct := 0, 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		if seen[c>>6&1]&(1<<(c&63)) == 0 {
			seen[c>>6&1] |= 1 << (c & 63)
			distinct++
		}
		digit = digit || isDigit(c)
		upper = upper || isUpper(c)
		lower = lower || isLower(c)
		hexOnly = hexOnly && isHexByte(c)
		if i > 0 && isAlpha(c) && isAlpha(t[i-1]) && isUpper(c) != isUpper(t[i-1]) {
			switches++
		}
	}
	if distinct < 10 || hexOnly && !(upper && lower) {
		return false // digests and ids in hex are not credentials by themselves
	}
	return digit && (upper || lower) || upper && lower && switches*4 >= len(t)
}
