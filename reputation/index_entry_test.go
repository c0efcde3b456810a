package reputation

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// FuzzDecodeHash checks decodeHash, which reads every looked-up hash,
// against the standard library: it accepts exactly lower-case hex of the
// right length and decodes it the same.
func FuzzDecodeHash(f *testing.F) {
	for _, s := range []string{
		"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
		"275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F",
		"3395856ce81f2b7382dee72602f798b642f14140",
		"44d88612fea8a8f36de82e1278abb02f",
		"44d88612fea8a8f36de82e1278abb02g",
		"44d88612fea8a8f36de82e1278abb0/:",
		"44d88612fea8a8f36de82e1278abb0`f",
		"44d88612fea8a8f36de82e1278abb0\xb0f",
		"0123456789abcdef0123456789abcdef",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range []int{16, 20, 32} {
			dst := make([]byte, n)
			ok := decodeHash(dst, s)
			want, err := hex.DecodeString(s)
			wantOK := err == nil && len(want) == n && s == strings.ToLower(s)
			if ok != wantOK {
				t.Fatalf("decodeHash(%d bytes, %q) = %v, want %v", n, s, ok, wantOK)
			}
			if ok && !bytes.Equal(dst, want) {
				t.Fatalf("decodeHash(%q) = %x", s, dst)
			}
		}
	})
}

// TestDecodeHashBytes puts every byte at every position of a valid hash.
func TestDecodeHashBytes(t *testing.T) {
	valid := "0123456789abcdef0123456789abcdeffedcba9876543210fedcba9876543210"
	for pos := range len(valid) {
		for c := range 256 {
			s := valid[:pos] + string([]byte{byte(c)}) + valid[pos+1:]
			dst := make([]byte, 32)
			want, err := hex.DecodeString(s)
			wantOK := err == nil && s == strings.ToLower(s)
			if ok := decodeHash(dst, s); ok != wantOK || ok && !bytes.Equal(dst, want) {
				t.Fatalf("decodeHash(%q) = %v %x, want %v %x", s, ok, dst, wantOK, want)
			}
		}
	}
}
