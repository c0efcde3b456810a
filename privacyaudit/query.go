package privacyaudit

import (
	"net/url"
	"sort"
	"strconv"

	"github.com/herdsec/herd"
)

// Query is what an operator asks of the audit
// (GET /v1/admin/privacy/audit?k=5&asn=true).
type Query struct {
	K   int  // 0: DefaultK
	ASN bool // count the network as a quasi-identifier too
}

// ParseRawQuery reads a query from a request's raw query string.
func ParseRawQuery(raw string) (Query, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return Query{}, herd.Errorf(herd.EINVALID, "query: does not parse: %v", err)
	}
	return ParseQuery(v)
}

// ParseQuery reads a query from untrusted URL parameters: k (ParseK) and
// asn (true or false), each at most once; any other parameter is refused.
func ParseQuery(v url.Values) (Query, error) {
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name != "k" && name != "asn" {
			return Query{}, herd.Errorf(herd.EINVALID, "query parameter %.32q: unknown (only k and asn)", name)
		}
		if n := len(v[name]); n > 1 {
			return Query{}, herd.Errorf(herd.EINVALID, "%s: given %d times", name, n)
		}
	}
	k, err := ParseK(v.Get("k"))
	if err != nil {
		return Query{}, err
	}
	q := Query{K: k}
	switch a := v.Get("asn"); a {
	case "", "false":
	case "true":
		q.ASN = true
	default:
		return Query{}, herd.Errorf(herd.EINVALID, "asn: %.16q is neither true nor false", a)
	}
	return q, nil
}

// Values encodes q as URL parameters, leaving out defaults.
func (q Query) Values() url.Values {
	v := url.Values{}
	if q.K != 0 {
		v.Set("k", strconv.Itoa(q.K))
	}
	if q.ASN {
		v.Set("asn", "true")
	}
	return v
}

// Config is the auditor's configuration for q.
func (q Query) Config() Config { return Config{K: q.K, ASN: q.ASN} }
