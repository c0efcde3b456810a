package geoip_test

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/herdsec/herd/geoip"
)

// The MaxMind test databases (github.com/maxmind/MaxMind-DB, MIT licence),
// shared by the repositories of this checkout.
var testdata = filepath.Join("..", "..", "shared", "testdata", "geoip")

func testDB(tb testing.TB, name string) string {
	tb.Helper()
	path := filepath.Join(testdata, name)
	if _, err := os.Stat(path); err != nil {
		tb.Skipf("test database missing: %v", err)
	}
	return path
}

// MustOpen opens a Resolver and closes it when tb ends.
func MustOpen(tb testing.TB, countryDB, asnDB string) *geoip.Resolver {
	tb.Helper()
	r, err := geoip.Open(countryDB, asnDB)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := r.Close(); err != nil {
			tb.Error(err)
		}
	})
	return r
}

type lookupCase struct {
	addr string
	want geoip.Place
}

func checkLookups(t *testing.T, r *geoip.Resolver, cases []lookupCase) {
	t.Helper()
	for _, tc := range cases {
		if got := r.Lookup(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Lookup(%s) = %+v, want %+v", tc.addr, got, tc.want)
		}
	}
}

// unknownAddrs are absent from every database: private, loopback,
// link-local, documentation.
var unknownAddrs = []string{"127.0.0.1", "10.0.0.1", "192.168.1.1", "::1", "fe80::1%eth0", "::ffff:10.0.0.1", "2001:db8::1"}

func TestCountryAndASN(t *testing.T) {
	r := MustOpen(t, testDB(t, "GeoIP2-Country-Test.mmdb"), testDB(t, "GeoLite2-ASN-Test.mmdb"))
	cases := []lookupCase{
		{"89.160.20.130", geoip.Place{Country: "SE", ASN: 29518, ASOrg: "Bredband2 AB"}},
		{"89.160.20.112", geoip.Place{Country: "SE", ASN: 29518, ASOrg: "Bredband2 AB"}},
		{"81.2.69.142", geoip.Place{Country: "GB"}},                               // no ASN record
		{"1.0.0.1", geoip.Place{Country: "ZZ", ASN: 15169, ASOrg: "Google Inc."}}, // no country record
		{"2001:218::1", geoip.Place{Country: "JP"}},
		{"2001:220::1", geoip.Place{Country: "KR"}},
		{"2600:6000::1", geoip.Place{Country: "ZZ", ASN: 237, ASOrg: "Merit Network Inc."}},
		{"2001:1700::1", geoip.Place{Country: "ZZ", ASN: 6730, ASOrg: "Sunrise Communications AG"}},
		{"12.81.96.1", geoip.Place{Country: "ZZ", ASN: 7018}}, // ASN without organization
		// Found, but the record names no country: an anycast network, and
		// a network known only by its continent.
		{"214.1.1.1", geoip.Place{Country: "ZZ", ASN: 721, ASOrg: "DoD Network Information Center"}},
		{"2a02:d500::1", geoip.Place{Country: "ZZ"}},
		// IPv4-mapped IPv6 is the IPv4 address.
		{"::ffff:89.160.20.130", geoip.Place{Country: "SE", ASN: 29518, ASOrg: "Bredband2 AB"}},
		{"::ffff:1.0.0.1", geoip.Place{Country: "ZZ", ASN: 15169, ASOrg: "Google Inc."}},
	}
	for _, a := range unknownAddrs {
		cases = append(cases, lookupCase{a, geoip.Unknown})
	}
	checkLookups(t, r, cases)
	if got := r.Lookup(netip.Addr{}); got != geoip.Unknown {
		t.Errorf("Lookup(invalid) = %+v, want Unknown", got)
	}
}

func TestCityDatabase(t *testing.T) {
	r := MustOpen(t, testDB(t, "GeoIP2-City-Test.mmdb"), "")
	checkLookups(t, r, []lookupCase{
		{"81.2.69.142", geoip.Place{Country: "GB"}},
		{"89.160.20.130", geoip.Place{Country: "SE"}},
		{"214.0.1.1", geoip.Place{Country: "AU"}},
		{"214.0.0.1", geoip.Place{Country: "SG"}},
		{"2001:218::1", geoip.Place{Country: "JP"}},
		{"2001:238::1", geoip.Place{Country: "TW"}},
		{"2.3.3.1", geoip.Unknown}, // continent only
		{"::ffff:81.2.69.142", geoip.Place{Country: "GB"}},
		{"1.0.0.1", geoip.Unknown},
		{"127.0.0.1", geoip.Unknown},
		{"10.0.0.1", geoip.Unknown},
	})
}

func TestMissingParts(t *testing.T) {
	asnOnly := MustOpen(t, "", testDB(t, "GeoLite2-ASN-Test.mmdb"))
	countryOnly := MustOpen(t, testDB(t, "GeoIP2-Country-Test.mmdb"), "")
	none := MustOpen(t, "", "")
	var nilResolver *geoip.Resolver
	a := netip.MustParseAddr("89.160.20.130")
	for _, tc := range []struct {
		name string
		r    *geoip.Resolver
		want geoip.Place
	}{
		{"ASN only", asnOnly, geoip.Place{Country: "ZZ", ASN: 29518, ASOrg: "Bredband2 AB"}},
		{"country only", countryOnly, geoip.Place{Country: "SE"}},
		{"no databases", none, geoip.Unknown},
		{"nil", nilResolver, geoip.Unknown},
	} {
		if got := tc.r.Lookup(a); got != tc.want {
			t.Errorf("%s: Lookup(%s) = %+v, want %+v", tc.name, a, got, tc.want)
		}
	}
	if err := nilResolver.Close(); err != nil {
		t.Errorf("nil Close = %v", err)
	}
	if geoip.Unknown != (geoip.Place{Country: "ZZ"}) {
		t.Errorf("Unknown = %+v", geoip.Unknown)
	}
}

func TestOpenErrors(t *testing.T) {
	country := testDB(t, "GeoIP2-Country-Test.mmdb")
	asn := testDB(t, "GeoLite2-ASN-Test.mmdb")
	junk := filepath.Join(t.TempDir(), "junk.mmdb")
	if err := os.WriteFile(junk, []byte("not a maxmind database"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, country, asn, want string
	}{
		{"swapped", asn, country, `country database ` + asn + `: type "GeoLite2-ASN" holds no country data`},
		{"ASN is a country DB", country, country, `ASN database ` + country + `: type "GeoIP2-Country" holds no ASN data`},
		{"missing country", filepath.Join(t.TempDir(), "nope.mmdb"), "", "open country database"},
		{"missing ASN", country, filepath.Join(t.TempDir(), "nope.mmdb"), "open ASN database"},
		{"corrupt", junk, "", "open country database"},
	} {
		r, err := geoip.Open(tc.country, tc.asn)
		if err == nil {
			r.Close()
			t.Errorf("%s: Open succeeded", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want it to say %q", tc.name, err, tc.want)
		}
	}
}

// TestWrittenDatabases covers what the MaxMind test databases do not: a
// record with only a registered country, malformed country codes, an IPv6
// database without the ::ffff:0:0/96 alias, and an IPv4-only database.
func TestWrittenDatabases(t *testing.T) {
	dir := t.TempDir()
	records := map[string]mmdbtype.Map{
		"198.51.100.0/24":  {"registered_country": isoMap("FR")},
		"203.0.113.0/25":   {"country": isoMap("nl"), "registered_country": isoMap("DE")},
		"203.0.113.128/25": {"country": isoMap("XYZ")},
		"192.0.2.0/24":     {"country": isoMap("BE")},
		"2001:db8::/32":    {"country": isoMap("CH")},
	}
	v6 := writeDB(t, filepath.Join(dir, "v6.mmdb"), mmdbwriter.Options{
		DatabaseType: "Herd-Test-Country", DisableIPv4Aliasing: true, IncludeReservedNetworks: true,
	}, records)
	delete(records, "2001:db8::/32")
	v4 := writeDB(t, filepath.Join(dir, "v4.mmdb"), mmdbwriter.Options{
		DatabaseType: "Herd-Test-City", IPVersion: 4, RecordSize: 24, IncludeReservedNetworks: true,
	}, records)

	common := []lookupCase{
		{"198.51.100.7", geoip.Place{Country: "FR"}}, // registered country only
		{"203.0.113.1", geoip.Place{Country: "NL"}},  // lowercase code, country wins over registered
		{"203.0.113.200", geoip.Unknown},             // not an ISO code
		{"192.0.2.1", geoip.Place{Country: "BE"}},
		{"::ffff:192.0.2.1", geoip.Place{Country: "BE"}}, // mapped: found without an alias in the tree
		{"10.0.0.1", geoip.Unknown},
	}
	t.Run("IPv6 without aliases", func(t *testing.T) {
		checkLookups(t, MustOpen(t, v6, ""), append(common, lookupCase{"2001:db8::1", geoip.Place{Country: "CH"}}))
	})
	t.Run("IPv4 only", func(t *testing.T) {
		// The IPv6 lookup is an error inside the reader: Unknown here.
		checkLookups(t, MustOpen(t, v4, ""), append(common, lookupCase{"2001:db8::1", geoip.Unknown}))
	})
}

func isoMap(code string) mmdbtype.Map {
	return mmdbtype.Map{"iso_code": mmdbtype.String(code)}
}

func writeDB(tb testing.TB, path string, opts mmdbwriter.Options, records map[string]mmdbtype.Map) string {
	tb.Helper()
	tree, err := mmdbwriter.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	for cidr, rec := range records {
		_, network, err := net.ParseCIDR(cidr)
		if err != nil {
			tb.Fatal(err)
		}
		if err := tree.Insert(network, rec); err != nil {
			tb.Fatalf("insert %s: %v", cidr, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestConcurrentLookups(t *testing.T) {
	r := MustOpen(t, testDB(t, "GeoIP2-City-Test.mmdb"), testDB(t, "GeoLite2-ASN-Test.mmdb"))
	a := netip.MustParseAddr("89.160.20.130")
	want := geoip.Place{Country: "SE", ASN: 29518, ASOrg: "Bredband2 AB"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if got := r.Lookup(a); got != want {
					t.Errorf("Lookup = %+v, want %+v", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkLookup(b *testing.B) {
	for _, bc := range []struct{ name, country, addr string }{
		{"Country/IPv4", "GeoIP2-Country-Test.mmdb", "89.160.20.130"},
		{"City/IPv4", "GeoIP2-City-Test.mmdb", "89.160.20.130"},
		{"City/IPv6", "GeoIP2-City-Test.mmdb", "2001:218::1"},
		{"City/unknown", "GeoIP2-City-Test.mmdb", "10.0.0.1"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := MustOpen(b, testDB(b, bc.country), testDB(b, "GeoLite2-ASN-Test.mmdb"))
			a := netip.MustParseAddr(bc.addr)
			b.ReportAllocs()
			for b.Loop() {
				r.Lookup(a)
			}
		})
	}
}
