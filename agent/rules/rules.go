// Package rules evaluates OS events against Sigma rules: the Linux rules
// Herd ships (from SigmaHQ, under the Detection Rule License 1.1), or any
// folder of rules. A rule applies to an event when the event's logsource
// (category, service, product), if it names one, is the rule's.
package rules

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	ahocorasick "github.com/BobuSumisu/aho-corasick"
	sigma "github.com/bradleyjkemp/sigma-go"
	"github.com/bradleyjkemp/sigma-go/evaluator"
)

//go:embed sigma
var shipped embed.FS

// MaxRuleSize bounds one rule file.
const MaxRuleSize = 256 << 10

// Rule is one loaded rule.
type Rule struct {
	ID, Title, Level, File string
	Logsource              sigma.Logsource
	eval                   *evaluator.RuleEvaluator
	needs                  []string // lower-cased literals one of which a match needs; nil: always evaluate
}

// Set is a set of loaded rules.
type Set struct {
	Rules []*Rule
	// NoPrefilter evaluates every applicable rule (for comparison).
	NoPrefilter bool

	once     sync.Once
	literals *ahocorasick.Trie // every literal some rule needs
	litRules [][]int           // literal → the rules needing it
}

// prepare builds the literal matcher of the prefilter.
func (s *Set) prepare() {
	s.once.Do(func() {
		index := map[string]int{}
		var words []string
		for i, r := range s.Rules {
			for _, l := range r.needs {
				k, ok := index[l]
				if !ok {
					k = len(words)
					index[l] = k
					words = append(words, l)
					s.litRules = append(s.litRules, nil)
				}
				s.litRules[k] = append(s.litRules[k], i)
			}
		}
		s.literals = ahocorasick.NewTrieBuilder().AddStrings(words).Build()
	})
}

// Shipped returns the Linux rules Herd ships.
func Shipped() (*Set, error) {
	sub, err := fs.Sub(shipped, "sigma")
	if err != nil {
		return nil, err
	}
	return Load(sub)
}

// Load loads every .yml and .yaml file under fsys as a Sigma rule. A file
// that is not a valid rule stops the load with an error naming it.
func Load(fsys fs.FS) (*Set, error) {
	s := &Set{}
	ids := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (path.Ext(p) != ".yml" && path.Ext(p) != ".yaml") {
			return nil
		}
		f, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, MaxRuleSize+1))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		r, err := Parse(b)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		r.File = p
		if prev, dup := ids[r.ID]; dup {
			return fmt.Errorf("%s: rule id %s is also the id of %s", p, r.ID, prev)
		}
		ids[r.ID] = p
		s.Rules = append(s.Rules, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(s.Rules) == 0 {
		return nil, errors.New("no rule files (.yml, .yaml) found")
	}
	sort.Slice(s.Rules, func(i, j int) bool { return s.Rules[i].ID < s.Rules[j].ID })
	return s, nil
}

// Parse parses one Sigma rule and checks what evaluation needs. A rule
// that makes the parser fail in any way is an error, never a crash.
func Parse(b []byte) (r *Rule, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("not a rule this agent can evaluate: %v", p)
		}
	}()
	return parse(b)
}

func parse(b []byte) (*Rule, error) {
	if len(b) > MaxRuleSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxRuleSize)
	}
	r, err := sigma.ParseRule(b)
	if err != nil {
		return nil, fmt.Errorf("not a Sigma rule: %w", err)
	}
	switch {
	case strings.TrimSpace(r.Title) == "":
		return nil, errors.New("no title")
	case strings.TrimSpace(r.ID) == "":
		return nil, errors.New("no id")
	case len(r.Detection.Conditions) == 0:
		return nil, errors.New("no detection condition")
	case len(r.Detection.Searches) == 0:
		return nil, errors.New("no detection search")
	}
	for _, c := range r.Detection.Conditions {
		if c.Search == nil {
			return nil, errors.New("a detection condition without a search")
		}
	}
	// Keyword searches match text anywhere in the event; the evaluator
	// knows field searches only, so they become a search of one field that
	// holds every value of the event (see Evaluate).
	for name, search := range r.Detection.Searches {
		if len(search.Keywords) == 0 {
			continue
		}
		values := make([]any, len(search.Keywords))
		for i, k := range search.Keywords {
			values[i] = k
		}
		r.Detection.Searches[name] = sigma.Search{EventMatchers: []sigma.EventMatcher{{
			{Field: keywordField, Modifiers: []string{"contains"}, Values: values},
		}}}
	}
	rule := &Rule{ID: r.ID, Title: r.Title, Level: r.Level, Logsource: r.Logsource, eval: evaluator.ForRule(r)}
	if lits, ok := needs(r); ok {
		rule.needs = lits
	}
	return rule, nil
}

// keywordField is the field keyword searches look in: every string value
// of the event, one per line.
const keywordField = "HerdAllValues"

// allValues joins the event's values, as text, one per line.
func allValues(fields map[string]any) string {
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			b.WriteString(x)
			b.WriteByte('\n')
		case json.Number:
			b.WriteString(x.String())
			b.WriteByte('\n')
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for k, v := range fields {
		if k != keywordField {
			walk(v)
		}
	}
	return b.String()
}

// Event is one OS event: its fields, by the names the rules use, and
// optionally its logsource.
type Event struct {
	Logsource sigma.Logsource
	Fields    map[string]any
}

// ParseEvent decodes one event: a JSON object of fields, where the key
// "logsource", if present, is an object naming the category, service or
// product.
func ParseEvent(b []byte) (Event, error) {
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&ev.Fields); err != nil {
		return ev, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return ev, errors.New("data after the JSON object")
	}
	if ev.Fields == nil {
		return ev, errors.New("not a JSON object")
	}
	if ls, ok := ev.Fields["logsource"]; ok {
		m, ok := ls.(map[string]any)
		if !ok {
			return ev, errors.New(`"logsource": want an object with category, service or product`)
		}
		for k, v := range m {
			s, ok := v.(string)
			if !ok {
				return ev, fmt.Errorf(`"logsource.%s": want a string`, k)
			}
			switch k {
			case "category":
				ev.Logsource.Category = s
			case "service":
				ev.Logsource.Service = s
			case "product":
				ev.Logsource.Product = s
			default:
				return ev, fmt.Errorf(`"logsource.%s": want category, service or product`, k)
			}
		}
		delete(ev.Fields, "logsource")
	}
	return ev, nil
}

// applies reports whether the rule is for events from ls: every part the
// event names must be the rule's (a rule without that part takes any).
func (r *Rule) applies(ls sigma.Logsource) bool {
	eq := func(rule, ev string) bool { return ev == "" || rule == "" || strings.EqualFold(rule, ev) }
	return eq(r.Logsource.Category, ls.Category) && eq(r.Logsource.Service, ls.Service) && eq(r.Logsource.Product, ls.Product)
}

// Match is a rule that matched an event.
type Match struct {
	RuleID string `json:"rule_id"`
	Title  string `json:"title"`
	Level  string `json:"level,omitempty"`
}

// Evaluate returns the rules that match ev, by rule id.
func (s *Set) Evaluate(ctx context.Context, ev Event) ([]Match, error) {
	var out []Match
	if _, ok := ev.Fields[keywordField]; !ok {
		fields := make(map[string]any, len(ev.Fields)+1)
		for k, v := range ev.Fields {
			fields[k] = v
		}
		fields[keywordField] = allValues(ev.Fields)
		ev.Fields = fields
	}
	s.prepare()
	possible := make([]bool, len(s.Rules))
	s.literals.Walk([]byte(strings.ToLower(ev.Fields[keywordField].(string))), func(end, n, pattern int64) bool {
		for _, i := range s.litRules[pattern] {
			possible[i] = true
		}
		return true
	})
	for i, r := range s.Rules {
		if !r.applies(ev.Logsource) || !s.NoPrefilter && r.needs != nil && !possible[i] {
			continue
		}
		res, err := r.matches(ctx, ev.Fields)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		if res.Match {
			out = append(out, Match{RuleID: r.ID, Title: r.Title, Level: r.Level})
		}
	}
	return out, nil
}

// matches evaluates the rule on fields; a failure of the evaluator is an
// error, never a crash.
func (r *Rule) matches(ctx context.Context, fields map[string]any) (res evaluator.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("evaluation failed: %v", p)
		}
	}()
	return r.eval.Matches(ctx, fields)
}
