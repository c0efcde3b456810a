package rules

import (
	"path"
	"strings"

	sigma "github.com/bradleyjkemp/sigma-go"
)

// A prefilter skips rules that cannot match an event: from a rule's
// detection it derives literals of which at least one must appear, in any
// case, in some value of every event the rule matches. An event whose
// values hold none of them is not given to the evaluator. Where no such
// literal follows from the rule (negations, regular expressions, numbers,
// encodings, aggregations), the rule is always evaluated.

// needs returns the rule's literals, lower-cased, or ok false if the rule
// may match without any.
func needs(r sigma.Rule) (lits []string, ok bool) {
	if len(r.Detection.Conditions) == 0 {
		return nil, false
	}
	var all []string
	for _, c := range r.Detection.Conditions {
		if c.Aggregation != nil {
			return nil, false
		}
		l, ok := exprNeeds(r.Detection, c.Search)
		if !ok {
			return nil, false
		}
		all = append(all, l...)
	}
	return all, len(all) > 0
}

// exprNeeds derives the literals a condition expression needs.
func exprNeeds(d sigma.Detection, e sigma.SearchExpr) ([]string, bool) {
	switch x := e.(type) {
	case sigma.SearchIdentifier:
		s, ok := d.Searches[x.Name]
		if !ok {
			return nil, false
		}
		return searchNeeds(s)
	case sigma.And:
		for _, sub := range x { // any one conjunct's need is the whole's
			if l, ok := exprNeeds(d, sub); ok {
				return l, true
			}
		}
		return nil, false
	case sigma.Or:
		return unionNeeds(d, x)
	case sigma.OneOfIdentifier:
		return exprNeeds(d, x.Ident)
	case sigma.AllOfIdentifier:
		return exprNeeds(d, x.Ident)
	case sigma.OneOfPattern:
		return unionNeeds(d, matching(d, x.Pattern))
	case sigma.OneOfThem:
		return unionNeeds(d, matching(d, "*"))
	case sigma.AllOfPattern:
		for _, sub := range matching(d, x.Pattern) {
			if l, ok := exprNeeds(d, sub); ok {
				return l, true
			}
		}
		return nil, false
	case sigma.AllOfThem:
		for _, sub := range matching(d, "*") {
			if l, ok := exprNeeds(d, sub); ok {
				return l, true
			}
		}
		return nil, false
	}
	return nil, false // Not, and anything else
}

// matching returns the searches whose names match a condition's pattern.
func matching(d sigma.Detection, pattern string) []sigma.SearchExpr {
	var out []sigma.SearchExpr
	for name := range d.Searches {
		if ok, _ := path.Match(pattern, name); ok {
			out = append(out, sigma.SearchIdentifier{Name: name})
		}
	}
	return out
}

// unionNeeds: every alternative needs one of its literals.
func unionNeeds(d sigma.Detection, alts []sigma.SearchExpr) ([]string, bool) {
	if len(alts) == 0 {
		return nil, false
	}
	var all []string
	for _, a := range alts {
		l, ok := exprNeeds(d, a)
		if !ok {
			return nil, false
		}
		all = append(all, l...)
	}
	return all, true
}

// searchNeeds: a search matches when one of its event matchers does, which
// needs all of its field matchers.
func searchNeeds(s sigma.Search) ([]string, bool) {
	if len(s.Keywords) > 0 || len(s.EventMatchers) == 0 {
		return nil, false // keyword searches are rewritten before this runs
	}
	var all []string
	for _, em := range s.EventMatchers {
		found := false
		for _, fm := range em {
			if l, ok := fieldNeeds(fm); ok {
				all = append(all, l...)
				found = true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return all, true
}

// fieldNeeds: a field matcher compared by equality, contains, startswith
// or endswith with strings needs one of its values' longest literal part.
func fieldNeeds(fm sigma.FieldMatcher) ([]string, bool) {
	for _, m := range fm.Modifiers {
		switch m {
		case "contains", "startswith", "endswith", "all", "cased":
		default:
			return nil, false
		}
	}
	if len(fm.Values) == 0 {
		return nil, false
	}
	var out []string
	for _, v := range fm.Values {
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		lit := longestLiteral(s)
		if len(lit) < 3 {
			return nil, false
		}
		out = append(out, strings.ToLower(lit))
	}
	return out, true
}

// longestLiteral returns the longest part of a Sigma value without
// wildcards (* and ?) or escapes.
func longestLiteral(v string) string {
	best := ""
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == '*' || r == '?' || r == '\\' }) {
		if len(part) > len(best) {
			best = part
		}
	}
	return best
}
