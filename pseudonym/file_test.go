package pseudonym

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary bytes to the key file decoder: it must never
// panic, and whatever it accepts must be a usable keyring that survives a
// round trip through the file format unchanged.
func FuzzLoad(f *testing.F) {
	s, err := newState(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		f.Fatal(err)
	}
	good, err := encode(s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("null"))
	f.Add([]byte(`{"format":"herd-pseudonym-keyring-v1"}`))
	f.Add([]byte(`{"format":"herd-pseudonym-keyring-v1","rotating_keyset":{},"created":{},"stable_keyset":{}}`))
	f.Add([]byte(`{"format":"herd-pseudonym-keyring-v1","rotating_keyset":{"primaryKeyId":1,"key":[{"keyId":1}]},"created":{"1":"2026-01-01T00:00:00Z"},"stable_keyset":null}`))
	f.Add([]byte(strings.Replace(string(good), "SHA256", "SHA1", 1)))
	f.Add([]byte(strings.Replace(string(good), "ENABLED", "DISABLED", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decode(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if len(s.order) == 0 {
			t.Fatal("accepted a keyring without keys")
		}
		p := s.pseudonym(s.order[0], "dev")
		enc, err := encode(s)
		if err != nil {
			t.Fatalf("encode an accepted keyring: %v", err)
		}
		s2, err := decode(enc)
		if err != nil {
			t.Fatalf("decode(encode(accepted keyring)): %v", err)
		}
		if got := s2.pseudonym(s2.order[0], "dev"); got != p {
			t.Fatalf("round trip changed the pseudonym: %q, want %q", got, p)
		}
		if !json.Valid(enc) {
			t.Fatal("encode wrote invalid JSON")
		}
	})
}
