package httpapi

import (
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/transparency"
)

func TestDecodeRegisterRequest(t *testing.T) {
	n, err := DecodeRegisterRequest(strings.NewReader(`{"type":"authority-disclosure","requester":"authority","authority_kind":"government","country":"us","received":"2026-02-01T00:00:00Z","reference":"FOIA 12"}`))
	if err != nil || n.Type != transparency.TypeDisclosure || n.AuthorityKind != transparency.AuthorityGovernment || n.Country != "us" || n.Received.Month() != time.February {
		t.Fatalf("decoded %+v %v", n, err)
	}
	for body, want := range map[string]string{
		`{"type":"access","requester":"person","country":"DE","name":"Alice"}`: `unknown field "name"`,
		`{"type":"access"} {}`:          "data after the JSON value",
		`{"type":"access","country":7}`: "country",
		`[]`:                            "",
	} {
		_, err := DecodeRegisterRequest(strings.NewReader(body))
		if herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want invalid naming %q", body, err, want)
		}
	}
}

// FuzzDecodeRegisterRequest: any body is refused with EINVALID or decodes
// into a request that Register either refuses with EINVALID or accepts
// within every limit.
func FuzzDecodeRegisterRequest(f *testing.F) {
	for _, s := range []string{
		`{"type":"access","requester":"person","country":"DE","reference":"case 1"}`,
		`{"type":"authority-disclosure","requester":"authority","authority_kind":"law-enforcement","country":"fr","received":"2026-01-02T03:04:05Z"}`,
		`{"type":"deletion","requester":"person","country":"D\u0000"}`,
		`{}`, `null`, `{"received":"x"}`,
	} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		n, err := DecodeRegisterRequest(strings.NewReader(body))
		if err != nil {
			if herd.ErrorCode(err) != herd.EINVALID {
				t.Fatalf("%q: %v is not EINVALID", body, err)
			}
			return
		}
		r, err := transparency.Register(n, "tr-0000000000000000", "fuzz", now)
		if err != nil {
			if herd.ErrorCode(err) != herd.EINVALID {
				t.Fatalf("%q: register: %v is not EINVALID", body, err)
			}
			return
		}
		if len(r.Country) != 2 || strings.ToUpper(r.Country) != r.Country || len(r.Reference) > transparency.MaxReference ||
			r.State != transparency.StateReceived || r.Received.After(now.Add(time.Minute)) || len(r.History) != 1 {
			t.Fatalf("%q: accepted %+v", body, r)
		}
	})
}
