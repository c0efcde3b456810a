package rules

import "sort"

// With returns a new set holding s's rules and extra: a rule of extra
// replaces the rule of s with the same id (the cloud's rules may correct a
// shipped one). Neither s nor extra is changed.
func (s *Set) With(extra []*Rule) *Set {
	replaced := make(map[string]bool, len(extra))
	for _, r := range extra {
		replaced[r.ID] = true
	}
	out := &Set{NoPrefilter: s.NoPrefilter}
	for _, r := range s.Rules {
		if !replaced[r.ID] {
			out.Rules = append(out.Rules, r)
		}
	}
	out.Rules = append(out.Rules, extra...)
	sort.Slice(out.Rules, func(i, j int) bool { return out.Rules[i].ID < out.Rules[j].ID })
	return out
}
