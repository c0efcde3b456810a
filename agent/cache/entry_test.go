package cache

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
)

var entryCases = []entry{
	{Verdict: herd.VerdictUnknown, Expires: time.Unix(0, 1)},
	{Verdict: herd.VerdictMalicious, Threat: "Herd.Test.Bad", Source: herd.SourceOperator, Expires: time.Unix(1_800_000_000, 123), Seq: 42},
	{Verdict: herd.VerdictSuspicious, Threat: strings.Repeat("é", herd.MaxThreatName/2), Source: strings.Repeat("s", maxSource), Test: true, Expires: time.Unix(0, -5), Seq: 1<<64 - 1},
	{Verdict: herd.VerdictClean, Source: herd.SourceImport, Expires: time.Unix(1_700_000_000, 0)},
}

func TestEntryRoundTrip(t *testing.T) {
	for _, e := range entryCases {
		b, err := appendEntry(nil, e)
		if err != nil {
			t.Fatalf("encode %+v: %v", e, err)
		}
		got, err := decodeEntry(b)
		if err != nil || got.Verdict != e.Verdict || got.Threat != e.Threat || got.Source != e.Source || got.Test != e.Test || !got.Expires.Equal(e.Expires) || got.Seq != e.Seq {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", e, got, err)
		}
	}
}

func TestEntryRefusesWhatItCannotHold(t *testing.T) {
	for _, e := range []entry{
		{Verdict: "bogus"},
		{Verdict: herd.VerdictMalicious, Threat: strings.Repeat("x", herd.MaxThreatName+1)},
		{Verdict: herd.VerdictMalicious, Threat: "bell\a"},
		{Verdict: herd.VerdictMalicious, Source: strings.Repeat("s", maxSource+1)},
		{Verdict: herd.VerdictMalicious, Source: "\xff"},
	} {
		if _, err := appendEntry(nil, e); herd.ErrorCode(err) != herd.EINVALID {
			t.Errorf("encode %+v: %v, want EINVALID", e, err)
		}
	}
	good, _ := appendEntry(nil, entryCases[1])
	for name, b := range map[string][]byte{
		"empty":          nil,
		"version 2":      append([]byte{2}, good[1:]...),
		"verdict code 4": append(append([]byte{}, good[0], 4), good[2:]...),
		"unknown flag":   append(append([]byte{}, good[:2]...), append([]byte{2}, good[3:]...)...),
		"truncated":      good[:len(good)-1],
		"trailing byte":  append(append([]byte{}, good...), 'x'),
	} {
		if _, err := decodeEntry(b); herd.ErrorCode(err) != herd.EINVALID {
			t.Errorf("%s: decode gives %v, want EINVALID", name, err)
		}
	}
}

// FuzzDecodeEntry: decoding arbitrary bytes (a damaged cache file) never
// panics, and what decodes encodes back to the same bytes, so an entry has
// one encoding and nothing decoded is lost on rewrite.
func FuzzDecodeEntry(f *testing.F) {
	for _, e := range entryCases {
		b, err := appendEntry(nil, e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		again, err := appendEntry(nil, e)
		if err != nil {
			t.Fatalf("decoded %+v, which does not encode: %v", e, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encodes to\n% x\nnot\n% x", again, b)
		}
	})
}
