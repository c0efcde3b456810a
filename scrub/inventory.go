package scrub

import "github.com/herdsec/herd/inventory"

// Inventory applies the data inventory's rules: it is the inventory.Scrubber
// the agent and the cloud both use, so the two passes are the same code.
type Inventory struct{}

var _ inventory.Scrubber = Inventory{}

// Scrub applies one inventory rule to a value. Keyed values (pseudonyms
// made on the agent) must be 32 to 64 hex digits; anything else is dropped.
// An unknown rule drops the value: fail closed.
func (Inventory) Scrub(rule inventory.Rule, v string) (string, int, bool) {
	switch rule {
	case inventory.RuleKeyed:
		if len(v) < 32 || len(v) > 64 || !hexString(v) {
			return "", 0, false
		}
		return toLowerHex(v), 0, true
	case inventory.RuleNone, inventory.RuleHash, inventory.RuleURL, inventory.RulePath, inventory.RuleText, inventory.RuleIP:
		return Apply(Rule(rule), v)
	}
	return "", 0, false
}

func hexString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func toLowerHex(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'F' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
