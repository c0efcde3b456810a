package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/herdsec/herd"
)

func TestDecodePrefixLookup(t *testing.T) {
	for _, tt := range []struct {
		body, want string
	}{
		{`{"bits":24,"prefixes":[{"kind":"sha256","prefix":"275a02"}]}`, ""},
		{`{"bits":20,"prefixes":[{"kind":"md5","prefix":"275a00"}]}`, ""},
		{`{"bits":15,"prefixes":[{"kind":"sha256","prefix":"275a"}]}`, "bits: 15, want 16 to 32"},
		{`{"bits":33,"prefixes":[{"kind":"sha256","prefix":"275a0211ff"}]}`, "bits: 33"},
		{`{"bits":24,"prefixes":[]}`, "prefixes: none given"},
		{`{"bits":24,"prefixes":[{"kind":"url","prefix":"275a02"}]}`, `prefixes: 1 of 1 invalid: item 0: field "prefix": kind "url": prefix lookups are for sha256, sha1 and md5`},
		{`{"bits":24,"prefixes":[{"kind":"sha256","prefix":"275a0211"}]}`, "8 hex digits, want 6 for 24 bits"},
		{`{"bits":24,"prefixes":[{"kind":"sha256","prefix":"275A02"}]}`, "want lowercase hex"},
		{`{"bits":24,"prefixes":[{"kind":"sha256","prefix":"275x02"}]}`, "not hex"},
		{`{"bits":20,"prefixes":[{"kind":"sha256","prefix":"275a01"}]}`, "bits past the first 20 must be zero"},
		{`{"bits":24,"prefixes":[{"kind":"sha256","prefix":"275a02","full":"x"}]}`, "unknown field"},
	} {
		_, raw, err := DecodePrefixLookup(strings.NewReader(tt.body))
		if tt.want == "" {
			if err != nil || len(raw) != 1 {
				t.Errorf("%s: %v", tt.body, err)
			}
			continue
		}
		if err == nil || herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.body, err, tt.want)
		}
	}
	var many []PrefixQuery
	for range MaxPrefixes + 1 {
		many = append(many, PrefixQuery{Kind: herd.KindSHA256, Prefix: "275a02"})
	}
	b, _ := json.Marshal(PrefixRequest{Bits: 24, Prefixes: many})
	if _, _, err := DecodePrefixLookup(strings.NewReader(string(b))); herd.ErrorCode(err) != herd.ETOOLARGE {
		t.Errorf("%d prefixes: %v, want too large", len(many), err)
	}
}

func FuzzDecodePrefixLookup(f *testing.F) {
	f.Add(`{"bits":24,"prefixes":[{"kind":"sha256","prefix":"275a02"}]}`)
	f.Add(`{"bits":17,"prefixes":[{"kind":"sha1","prefix":"ff8000"}]}`)
	f.Add(`{"bits":32,"prefixes":[{"kind":"md5","prefix":"00000000"}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		req, raw, err := DecodePrefixLookup(strings.NewReader(body))
		if err != nil {
			if herd.ErrorCode(err) != herd.EINVALID && herd.ErrorCode(err) != herd.ETOOLARGE {
				t.Fatalf("%q: %v is not EINVALID or ETOOLARGE", body, err)
			}
			return
		}
		// What is accepted never tells more than Bits bits of any hash.
		for i, p := range raw {
			if len(p) != prefixBytes(req.Bits) || req.Prefixes[i].Kind.HexLen() == 0 {
				t.Fatalf("%q: prefix %d is %x", body, i, p)
			}
			if rest := req.Bits % 8; rest != 0 && p[len(p)-1]&(0xff>>rest) != 0 {
				t.Fatalf("%q: prefix %d has bits past %d", body, i, req.Bits)
			}
		}
	})
}

// Every answer, whatever its number of entries, is exactly a size class.
func TestPrefixPadding(t *testing.T) {
	sizes := map[int]bool{}
	for n := range 6 {
		resp := PrefixResponse{Bits: 24, Results: []PrefixResult{{Kind: herd.KindSHA256, Prefix: "275a02", Entries: []PrefixEntry{}}}}
		for i := range n {
			resp.Results[0].Entries = append(resp.Results[0].Entries, PrefixEntry{Value: strings.Repeat("ab", 32), Verdict: herd.VerdictMalicious, Threat: "T" + strings.Repeat("x", i)})
		}
		b, err := padded(resp)
		if err != nil {
			t.Fatal(err)
		}
		if len(b)&(len(b)-1) != 0 || len(b) < minPrefixSizeClass {
			t.Fatalf("%d entries: %d bytes, not a power of two ≥ 1 KiB", n, len(b))
		}
		var back PrefixResponse
		if err := json.Unmarshal(b, &back); err != nil || len(back.Results[0].Entries) != n {
			t.Fatalf("%d entries: decodes to %+v, %v", n, back, err)
		}
		sizes[len(b)] = true
	}
	if len(sizes) != 1 {
		t.Fatalf("answers of 0 to 5 entries have sizes %v, want one class", sizes)
	}
}

func TestPrefixOf(t *testing.T) {
	h := strings.Repeat("f", 64)
	for bits, want := range map[int]string{16: "ffff", 20: "fffff0", 24: "ffffff", 31: "fffffffe", 32: "ffffffff"} {
		q, err := PrefixOf(herd.KindSHA256, h, bits)
		if err != nil || q.Prefix != want {
			t.Errorf("%d bits: %q, %v; want %q", bits, q.Prefix, err, want)
		}
	}
	if _, err := PrefixOf(herd.KindURL, "https://example.com/", 24); err == nil {
		t.Error("a URL has no prefix")
	}
}
