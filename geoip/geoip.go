// Package geoip maps a client's IP address to its country and autonomous
// system, so that the cloud can keep those and forget the address.
//
// What it protects: an IP address identifies a subscriber line, often a
// person, for as long as the ISP keeps its logs. The cloud needs only where
// traffic comes from (country) and through whom (ASN) — for regional threat
// statistics, residency, and the transparency report — so the address is
// looked up once when a request arrives and only the Place is passed on.
// A Resolver keeps nothing about the addresses it is asked: no cache keyed
// by address, no logs. Callers must likewise not store or log the address.
//
// It reads MaxMind DB files (GeoIP2/GeoLite2 Country, City or Enterprise for
// the country; GeoLite2-ASN or GeoIP2-ISP for the AS) with
// github.com/oschwald/maxminddb-golang/v2, memory-mapped.
package geoip

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Place is what is kept of a client address.
type Place struct {
	Country string `json:"country"`          // ISO 3166-1 alpha-2, "ZZ" when unknown
	ASN     uint32 `json:"asn,omitempty"`    // autonomous system number, 0 when unknown
	ASOrg   string `json:"as_org,omitempty"` // the AS's organization, "" when unknown
}

// UnknownCountry is the ISO 3166 user-assigned code for an unknown country.
const UnknownCountry = "ZZ"

// Unknown is the Place of an address that no database knows: private,
// loopback, unallocated, or no database configured.
var Unknown = Place{Country: UnknownCountry}

// Resolver looks addresses up in a country database and an ASN database,
// either of which may be absent. It is safe for concurrent use, except that
// Close must not run concurrently with Lookup. A nil *Resolver answers
// Unknown to every lookup.
type Resolver struct {
	country *maxminddb.Reader
	asn     *maxminddb.Reader
}

// Open opens the country and ASN databases. Either path may be "", and that
// part of every Place is then unknown. A database of the wrong kind (an ASN
// database given as the country database, say) is refused.
func Open(countryDB, asnDB string) (*Resolver, error) {
	r := new(Resolver)
	var err error
	if countryDB != "" {
		if r.country, err = open(countryDB, "country", "country", "city", "enterprise"); err != nil {
			return nil, err
		}
	}
	if asnDB != "" {
		if r.asn, err = open(asnDB, "ASN", "asn", "isp"); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// open opens the database at path and checks that its type names one of
// kinds (lowercase), such as "GeoLite2-City" for "city".
func open(path, what string, kinds ...string) (*maxminddb.Reader, error) {
	db, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: open %s database: %w", what, err)
	}
	typ := strings.ToLower(db.Metadata.DatabaseType)
	for _, k := range kinds {
		if strings.Contains(typ, k) {
			return db, nil
		}
	}
	db.Close()
	return nil, fmt.Errorf("geoip: %s database %s: type %q holds no %s data (want a type naming one of %s)",
		what, path, db.Metadata.DatabaseType, what, strings.Join(kinds, ", "))
}

// countryRecord is the part of a Country/City record that is read; the
// decoder skips everything else (cities, coordinates, names).
type countryRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	// RegisteredCountry is where the ISP registered the network: the best
	// answer left when the database does not locate the address itself.
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
}

type asnRecord struct {
	Number uint32 `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
}

// Lookup returns the country and AS of addr. Parts that are unknown, or
// that a database fails to decode, are left at their Unknown values: a
// lookup never fails. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
// looked up as the IPv4 address, and a zone is ignored.
func (r *Resolver) Lookup(addr netip.Addr) Place {
	p := Unknown
	if r == nil || !addr.IsValid() {
		return p
	}
	addr = addr.Unmap().WithZone("")
	if r.country != nil {
		var rec countryRecord
		if r.country.Lookup(addr).Decode(&rec) == nil {
			if c, ok := isoCode(rec.Country.ISOCode); ok {
				p.Country = c
			} else if c, ok := isoCode(rec.RegisteredCountry.ISOCode); ok {
				p.Country = c
			}
		}
	}
	if r.asn != nil {
		var rec asnRecord
		if r.asn.Lookup(addr).Decode(&rec) == nil && rec.Number != 0 {
			p.ASN, p.ASOrg = rec.Number, rec.Org
		}
	}
	return p
}

// isoCode accepts two ASCII letters and returns them in upper case.
func isoCode(s string) (string, bool) {
	if len(s) != 2 || !isLetter(s[0]) || !isLetter(s[1]) {
		return "", false
	}
	if s[0] >= 'a' || s[1] >= 'a' {
		s = strings.ToUpper(s)
	}
	return s, true
}

func isLetter(c byte) bool { return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' }

// Close releases the databases. A nil Resolver closes without error.
func (r *Resolver) Close() error {
	if r == nil {
		return nil
	}
	var errs []error
	for _, db := range []*maxminddb.Reader{r.country, r.asn} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}
