package sigdb_test

import (
	"bytes"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/sigdb"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"# comment\r\n\r\n" + emptySHA256 + ":*:A\r\n",
		emptyMD5 + ":0:A\n" + emptySHA1 + ":12:B:51:255\n" + emptySHA256 + ":4294967294:C:90:\n",
		emptyMD5 + ":0:Dup\n" + emptyMD5 + ":1:Dup2\n" + emptyMD5 + ":*:Dup3",
		emptyMD5 + ":0:Name.Shared-1\n" + emptyMD5[:31] + "0:0:Name.Shared-22\n",
		"abc\n",
	} {
		f.Add([]byte(s))
	}
	for _, tt := range badLines {
		f.Add([]byte(tt.line))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var sigs []sigdb.Signature
		perr := sigdb.Parse(bytes.NewReader(data), "fuzz.hsb", func(_ int, s sigdb.Signature) error {
			sigs = append(sigs, s)
			return nil
		})
		db := sigdb.New()
		lerr := db.Load(bytes.NewReader(data), "fuzz.hsb")
		if (perr == nil) != (lerr == nil) || perr != nil && perr.Error() != lerr.Error() {
			t.Fatalf("Parse and Load disagree:\nParse: %v\n Load: %v", perr, lerr)
		}
		if lerr != nil {
			if herd.ErrorCode(lerr) != herd.EINVALID || db.Len() != 0 {
				t.Fatalf("failed Load: code %q, Len %d; want %q, 0", herd.ErrorCode(lerr), db.Len(), herd.EINVALID)
			}
			return
		}
		if db.Len() != len(sigs) {
			t.Fatalf("Len = %d, Parse reported %d signatures", db.Len(), len(sigs))
		}
		for _, s := range sigs {
			h, err := hex.DecodeString(s.Hash)
			if err != nil || len(h) != s.Kind.HexLen()/2 {
				t.Fatalf("Parse reported hash %q for kind %s", s.Hash, s.Kind)
			}
			d := &herd.FileDigests{Size: s.Size}
			if s.Size < 0 {
				d.Size = 12345
			}
			switch s.Kind {
			case herd.KindSHA256:
				copy(d.SHA256[:], h)
			case herd.KindSHA1:
				copy(d.SHA1[:], h)
				d.HaveSHA1 = true
			case herd.KindMD5:
				copy(d.MD5[:], h)
				d.HaveMD5 = true
			}
			name, ok := db.Match(d)
			if want := matching(sigs, d); !ok || !slices.Contains(want, name) {
				t.Fatalf("Match(%s %s size %d) = %q, %v; want one of %q", s.Kind, s.Hash, d.Size, name, ok, want)
			}
		}
	})
}

// matching returns the names Match may return for d: those of the
// signatures that match d in the first kind, in Match's order, that has any.
func matching(sigs []sigdb.Signature, d *herd.FileDigests) []string {
	for _, k := range []struct {
		kind herd.Kind
		have bool
		hash []byte
	}{
		{herd.KindSHA256, true, d.SHA256[:]},
		{herd.KindSHA1, d.HaveSHA1, d.SHA1[:]},
		{herd.KindMD5, d.HaveMD5, d.MD5[:]},
	} {
		var names []string
		for _, s := range sigs {
			if k.have && s.Kind == k.kind && s.Hash == hex.EncodeToString(k.hash) && (s.Size < 0 || s.Size == d.Size) {
				names = append(names, s.Name)
			}
		}
		if names != nil {
			return names
		}
	}
	return nil
}
