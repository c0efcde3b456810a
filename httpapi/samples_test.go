package httpapi

import (
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
)

func init() {
	for name, typ := range map[string]reflect.Type{
		"SampleReceipt":         reflect.TypeFor[SampleReceipt](),
		"SampleInfo":            reflect.TypeFor[SampleInfo](),
		"SamplesResponse":       reflect.TypeFor[SamplesResponse](),
		"SampleVerdictRequest":  reflect.TypeFor[SampleVerdictRequest](),
		"SampleVerdictResponse": reflect.TypeFor[SampleVerdictResponse](),
	} {
		wireTypes[name] = typ
	}
	requestTypes = append(requestTypes, "SampleVerdictRequest")
}

const testSHA = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"

func sampleHeader(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestDecodeSampleOffer(t *testing.T) {
	good, err := DecodeSampleOffer(sampleHeader(HeaderSampleSHA256, strings.ToUpper(testSHA), HeaderSampleType, "elf"))
	if err != nil || good != (SampleOffer{SHA256: testSHA, FileType: "elf"}) {
		t.Fatalf("good offer: %+v %v", good, err)
	}
	for _, c := range []struct {
		name  string
		h     http.Header
		field string
		text  string
	}{
		{"no hash", sampleHeader(HeaderSampleType, "elf"), HeaderSampleSHA256, "missing"},
		{"no type", sampleHeader(HeaderSampleSHA256, testSHA), HeaderSampleType, "missing"},
		{"short hash", sampleHeader(HeaderSampleSHA256, testSHA[:63], HeaderSampleType, "elf"), HeaderSampleSHA256, "64 hex digits"},
		{"not hex", sampleHeader(HeaderSampleSHA256, "zz"+testSHA[2:], HeaderSampleType, "elf"), HeaderSampleSHA256, "not hex"},
		{"two hashes", sampleHeader(HeaderSampleSHA256, testSHA, HeaderSampleSHA256, testSHA, HeaderSampleType, "elf"), HeaderSampleSHA256, "more than once"},
		{"unknown type", sampleHeader(HeaderSampleSHA256, testSHA, HeaderSampleType, "docx"), HeaderSampleType, "want one of elf, pe, script, macho, other"},
	} {
		_, err := DecodeSampleOffer(c.h)
		var e *herd.Error
		if herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), c.text) || !asError(err, &e) || len(e.Problems) != 1 || e.Problems[0].Field != c.field {
			t.Errorf("%s: err = %v, want invalid naming %s: %s", c.name, err, c.field, c.text)
		}
	}
}

func asError(err error, e **herd.Error) bool {
	x, ok := err.(*herd.Error)
	*e = x
	return ok
}

// FuzzDecodeSampleOffer: any pair of header values is either refused with
// a clear invalid error or gives a lowercase 64-digit hash and a known type,
// which decode again to the same offer; the documented pattern agrees.
func FuzzDecodeSampleOffer(f *testing.F) {
	f.Add(testSHA, "elf")
	f.Add(strings.ToUpper(testSHA), "script")
	f.Add(" "+testSHA+" ", "macho")
	f.Add("", "")
	f.Add(testSHA[:10], "pe\x00")
	pattern := regexp.MustCompile("^[0-9a-fA-F]{64}$")
	f.Fuzz(func(t *testing.T, sha, typ string) {
		o, err := DecodeSampleOffer(sampleHeader(HeaderSampleSHA256, sha, HeaderSampleType, typ))
		if err != nil {
			if herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), "header Herd-Sample-") {
				t.Fatalf("error %v: not an invalid error naming the header", err)
			}
			return
		}
		if !pattern.MatchString(o.SHA256) || o.SHA256 != strings.ToLower(o.SHA256) || !slices.Contains(SampleFileTypes, o.FileType) {
			t.Fatalf("accepted %+v", o)
		}
		again, err := DecodeSampleOffer(sampleHeader(HeaderSampleSHA256, o.SHA256, HeaderSampleType, o.FileType))
		if err != nil || again != o {
			t.Fatalf("decoded %+v again: %+v %v", o, again, err)
		}
	})
}

func TestSortSamples(t *testing.T) {
	h := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	ss := []SampleInfo{
		{SHA256: "d", Status: "reviewed", FirstSeen: h},
		{SHA256: "c", Status: "queued", FirstSeen: h.Add(time.Hour)},
		{SHA256: "b", Status: "reviewed", FirstSeen: h.Add(-time.Hour)},
		{SHA256: "a", Status: "queued", FirstSeen: h.Add(time.Hour)},
		{SHA256: "e", Status: "queued", FirstSeen: h},
	}
	sortSamples(ss)
	var got []string
	for _, s := range ss {
		got = append(got, s.SHA256)
	}
	if want := []string{"e", "a", "c", "b", "d"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v (queued first, oldest first, then by hash)", got, want)
	}
}

// TestOpenAPISamples: the documented enums and limits of the sample routes
// are the server's.
func TestOpenAPISamples(t *testing.T) {
	doc := MustLoadOpenAPI(t)
	s := doc.Components.Schemas
	if got := s["SampleInfo"].Properties["file_type"].Enum; !slices.Equal(got, SampleFileTypes) {
		t.Errorf("SampleInfo.file_type: enum %v, want %v", got, SampleFileTypes)
	}
	if got := s["SampleVerdictRequest"].Properties["threat"].MaxLength; got == nil || *got != herd.MaxThreatName {
		t.Errorf("SampleVerdictRequest.threat: maxLength %v, want %d", got, herd.MaxThreatName)
	}
	var storable []string
	for _, v := range []herd.Verdict{herd.VerdictMalicious, herd.VerdictSuspicious, herd.VerdictClean, herd.VerdictUnknown} {
		if (herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: testSHA}, Verdict: v}).Validate() == nil {
			storable = append(storable, string(v))
		}
	}
	if got := s["SampleVerdictRequest"].Properties["verdict"].Enum; !slices.Equal(sorted(got), sorted(storable)) {
		t.Errorf("SampleVerdictRequest.verdict: enum %v, want %v", got, storable)
	}
	for _, st := range []string{"SampleInfo", "SampleReceipt"} {
		if got := s[st].Properties["status"].Enum; !slices.Equal(got, []string{"queued", "reviewed"}) {
			t.Errorf("%s.status: enum %v", st, got)
		}
	}
	params := doc.Paths["/v1/samples"]["post"].Parameters
	for _, p := range params {
		if p.In != "header" || !p.Required {
			t.Errorf("POST /v1/samples parameter %s: in %s, required %v; want a required header", p.Name, p.In, p.Required)
		}
		switch p.Name {
		case HeaderSampleSHA256:
			if p.Schema.Pattern != "^[0-9a-fA-F]{64}$" {
				t.Errorf("%s: pattern %q", p.Name, p.Schema.Pattern)
			}
		case HeaderSampleType:
			if !slices.Equal(p.Schema.Enum, SampleFileTypes) {
				t.Errorf("%s: enum %v, want %v", p.Name, p.Schema.Enum, SampleFileTypes)
			}
		default:
			t.Errorf("POST /v1/samples: unknown parameter %s", p.Name)
		}
	}
	if len(params) != 2 {
		t.Errorf("POST /v1/samples: %d parameters, want the two headers", len(params))
	}
}
