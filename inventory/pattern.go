package inventory

import (
	"regexp/syntax"
)

// Most field patterns are a run of characters from one or two ASCII sets,
// such as ^[0-9a-fA-F]{64}$ or ^[a-z][a-z0-9_.-]*$. Those are checked with a
// byte table instead of the regular expression engine; their result is the
// same (a test compares the two on every pattern of the inventory).

// classRun is a set of ASCII bytes repeated min to max times (max < 0: no
// limit).
type classRun struct {
	set      [256]bool
	min, max int
}

type classRuns []classRun

// fastPattern returns the fast form of pattern, or nil when it has none: the
// pattern must be anchored at both ends and be one run, or a single
// character followed by one run.
func fastPattern(pattern string) classRuns {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat {
		return nil
	}
	subs := re.Sub
	if len(subs) < 3 || len(subs) > 4 || subs[0].Op != syntax.OpBeginText || subs[len(subs)-1].Op != syntax.OpEndText {
		return nil
	}
	var runs classRuns
	for _, sub := range subs[1 : len(subs)-1] {
		r, ok := toRun(sub)
		if !ok {
			return nil
		}
		runs = append(runs, r)
	}
	if len(runs) == 2 && (runs[0].min != 1 || runs[0].max != 1) {
		return nil // a greedy first run could take what the second needs
	}
	return runs
}

func toRun(re *syntax.Regexp) (classRun, bool) {
	r := classRun{min: 1, max: 1}
	switch re.Op {
	case syntax.OpCharClass, syntax.OpLiteral:
	case syntax.OpStar:
		r.min, r.max = 0, -1
	case syntax.OpPlus:
		r.min, r.max = 1, -1
	case syntax.OpRepeat:
		r.min, r.max = re.Min, re.Max
	default:
		return r, false
	}
	if re.Op != syntax.OpCharClass && re.Op != syntax.OpLiteral {
		re = re.Sub[0]
	}
	switch re.Op {
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if hi >= 0x80 {
				return r, false
			}
			for c := lo; c <= hi; c++ {
				r.set[c] = true
			}
		}
	case syntax.OpLiteral:
		if len(re.Rune) != 1 || re.Rune[0] >= 0x80 || re.Flags&syntax.FoldCase != 0 {
			return r, false
		}
		r.set[re.Rune[0]] = true
	default:
		return r, false
	}
	return r, true
}

// MatchString reports whether all of s is the runs in turn.
func (runs classRuns) MatchString(s string) bool {
	i := 0
	for _, r := range runs {
		n := 0
		for i < len(s) && (r.max < 0 || n < r.max) && r.set[s[i]] {
			i++
			n++
		}
		if n < r.min {
			return false
		}
	}
	return i == len(s)
}
