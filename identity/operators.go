package identity

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/herdsec/herd"
)

// Operator roles. An admin may do everything; the others what their role
// names, as each admin route states.
const (
	RoleAnalyst        = "analyst"         // verdicts and evidence
	RoleSupport        = "support"         // licences and devices
	RolePrivacyOfficer = "privacy-officer" // people's data: access and deletion requests, the audit log
	RoleAdmin          = "admin"           // everything, operators included
)

// Roles lists every role.
var Roles = []string{RoleAnalyst, RoleSupport, RolePrivacyOfficer, RoleAdmin}

// Operator is a named operator with roles and a token.
type Operator struct {
	Name    string    `json:"name"`
	Roles   []string  `json:"roles"`
	Token   string    `json:"token,omitempty"` // keyed hash of the token's secret (never sent)
	Created time.Time `json:"created"`
}

// May reports whether the operator holds one of the roles (admin holds all).
func (o Operator) May(roles ...string) bool {
	if slices.Contains(o.Roles, RoleAdmin) {
		return true
	}
	for _, r := range roles {
		if slices.Contains(o.Roles, r) {
			return true
		}
	}
	return false
}

var operatorNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// operatorTokenRE: herdop.NAME.SECRET
var operatorTokenRE = regexp.MustCompile(`^herdop\.([a-z0-9][a-z0-9_-]{0,63})\.([A-Z2-7]{32})$`)

// CreateOperator adds an operator and returns its token, shown once.
func (s *Service) CreateOperator(ctx context.Context, name string, roles []string) (Operator, string, error) {
	if !operatorNameRE.MatchString(name) || name == RoleAdmin {
		return Operator{}, "", herd.Errorf(herd.EINVALID, "operator name %q: want 1-64 of a-z, 0-9, _ and - (not \"admin\", the bootstrap operator)", name)
	}
	if len(roles) == 0 {
		return Operator{}, "", herd.Errorf(herd.EINVALID, "roles: give at least one of %s", strings.Join(Roles, ", "))
	}
	for _, r := range roles {
		if !slices.Contains(Roles, r) {
			return Operator{}, "", herd.Errorf(herd.EINVALID, "role %q: want one of %s", r, strings.Join(Roles, ", "))
		}
	}
	secret := randomToken(20)
	mac, err := s.Vault.MAC("operator-token", []byte(name+"."+secret))
	if err != nil {
		return Operator{}, "", err
	}
	o := Operator{Name: name, Roles: slices.Compact(slices.Sorted(slices.Values(roles))), Token: mac, Created: s.now().UTC()}
	b, err := s.sealMaster("operator/"+name, o)
	if err != nil {
		return Operator{}, "", err
	}
	if _, err := s.Stores.Operators.Create(ctx, name, b); herd.ErrorCode(err) == herd.ECONFLICT {
		return Operator{}, "", herd.Errorf(herd.ECONFLICT, "operator %s exists; remove it first to issue a new token", name)
	} else if err != nil {
		return Operator{}, "", err
	}
	o.Token = ""
	return o, "herdop." + name + "." + secret, nil
}

// Operators lists the operators.
func (s *Service) Operators(ctx context.Context) ([]Operator, error) {
	keys, err := s.Stores.Operators.KeysWithPrefix(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []Operator
	for _, k := range keys {
		o, err := s.operator(ctx, k)
		if herd.ErrorCode(err) == herd.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, err
		}
		o.Token = ""
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Operator) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// RemoveOperator removes an operator: its token stops working.
func (s *Service) RemoveOperator(ctx context.Context, name string) error {
	if _, err := s.operator(ctx, name); err != nil {
		return err
	}
	return s.Stores.Operators.Delete(ctx, name)
}

// AuthenticateOperator returns the operator a token belongs to.
func (s *Service) AuthenticateOperator(ctx context.Context, token string) (Operator, error) {
	m := operatorTokenRE.FindStringSubmatch(token)
	if m == nil {
		return Operator{}, herd.Errorf(herd.EUNAUTHORIZED, "admin API: missing or wrong bearer token")
	}
	o, err := s.operator(ctx, m[1])
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		return Operator{}, herd.Errorf(herd.EUNAUTHORIZED, "admin API: missing or wrong bearer token")
	}
	if err != nil {
		return Operator{}, err
	}
	mac, err := s.Vault.MAC("operator-token", []byte(m[1]+"."+m[2]))
	if err != nil {
		return Operator{}, err
	}
	if subtle.ConstantTimeCompare([]byte(mac), []byte(o.Token)) != 1 {
		return Operator{}, herd.Errorf(herd.EUNAUTHORIZED, "admin API: missing or wrong bearer token")
	}
	o.Token = ""
	return o, nil
}

func (s *Service) operator(ctx context.Context, name string) (Operator, error) {
	var o Operator
	if !operatorNameRE.MatchString(name) {
		return o, herd.Errorf(herd.EINVALID, "operator name %q: want 1-64 of a-z, 0-9, _ and -", name)
	}
	b, _, err := s.Stores.Operators.Get(ctx, name)
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		return o, herd.Errorf(herd.ENOTFOUND, "operator %s: no such operator", name)
	}
	if err != nil {
		return o, err
	}
	plain, err := s.Vault.Open(b, []byte("operator/"+name))
	if err != nil {
		return o, err
	}
	return o, json.Unmarshal(plain, &o)
}

// sealMaster seals a record under the vault's master key (records that
// belong to no licence).
func (s *Service) sealMaster(ad string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return s.Vault.Seal(b, []byte(ad))
}
