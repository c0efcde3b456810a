package inventory

import (
	"regexp"
	"strings"
	"testing"
)

// inventoryPatterns lists every field pattern of the inventory.
func inventoryPatterns() []string {
	seen := map[string]bool{}
	var out []string
	for _, et := range types {
		for _, f := range et.Fields {
			if f.Pattern != "" && !seen[f.Pattern] {
				seen[f.Pattern] = true
				out = append(out, f.Pattern)
			}
		}
	}
	return out
}

func TestFastPatternShapes(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		fast    bool
	}{
		{sha256Pattern, true}, {keyedPattern, true}, {tokenPattern, true}, {ruleIDPattern, true}, {versionPattern, true},
		{`^[0-9A-Za-z][0-9A-Za-z .+:~_()-]*$`, true},
		{`^[^@\s]+@[^@\s]+$`, false},   // not ASCII-only sets
		{`^[^\x00-\x1f\x7f]+$`, false}, // idem
		{`[0-9a-f]{64}`, false},        // not anchored
		{`^[a-z]*[a-z0-9]$`, false},    // a greedy first run
		{`^[a]?[a]{2}$`, false},        // an optional first character
		{`^(?i)a[0-9]*$`, false},       // folded literal
		{`^[a-z]+|[0-9]+$`, false},     // alternation
	} {
		if got := fastPattern(tt.pattern) != nil; got != tt.fast {
			t.Errorf("fastPattern(%q) fast = %v, want %v", tt.pattern, got, tt.fast)
		}
	}
}

func FuzzPatterns(f *testing.F) {
	for _, s := range []string{"", "a", strings.Repeat("a", 64), strings.Repeat("F", 40), "1.2.3-beta+4", "A b", "x.y_z-1", "sig:123", "é", "0123456789abcdef0123456789abcdef\n"} {
		f.Add(s)
	}
	pats := inventoryPatterns()
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range pats {
			fast := fastPattern(p)
			if fast == nil {
				continue
			}
			if got, want := fast.MatchString(s), regexp.MustCompile(p).MatchString(s); got != want {
				t.Fatalf("pattern %s on %q: table %v, regexp %v", p, s, got, want)
			}
		}
	})
}
