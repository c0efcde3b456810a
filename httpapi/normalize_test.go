package httpapi

import (
	"testing"

	"github.com/herdsec/herd"
)

// FuzzNormalizeURL: the canonical form of a URL is stable, and the verdict
// store's own normalization leaves it unchanged, so a verdict set for one
// spelling is found by every other.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{"http://www.GOOgle.com/", "http://host/%25%32%35", "http://3279880203/blah", "http://www.google.com/blah/..", "http://www.evil.com/blah#frag", "http://[2001:db8::1]:8080/a/./b", "https://a.example/x?y=1&z=%41", "http://Bücher.example/ä"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := normalize(herd.Object{Kind: herd.KindURL, Value: s})
		if err != nil {
			return
		}
		again, err := normalize(n)
		if err != nil || again != n {
			t.Fatalf("normalize(%q) = %q, then %q, %v", s, n.Value, again.Value, err)
		}
		if err := (herd.Record{Object: n, Verdict: herd.VerdictMalicious, Source: herd.SourceOperator}).Validate(); err != nil {
			t.Fatalf("canonical %q is refused by the store: %v", n.Value, err)
		}
	})
}

func TestNormalizeURLSpellings(t *testing.T) {
	want, err := normalize(herd.Object{Kind: herd.KindURL, Value: "http://www.example.com/a/b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"HTTP://WWW.EXAMPLE.COM/a/b", "http://www.example.com/a/./b", "http://www.example.com/a/c/../b", "http://www.example.com/a/b#top", "http://www.example.com/%61/b"} {
		got, err := normalize(herd.Object{Kind: herd.KindURL, Value: s})
		if err != nil || got != want {
			t.Errorf("normalize(%q) = %q, %v; want %q", s, got.Value, err, want.Value)
		}
	}
}
