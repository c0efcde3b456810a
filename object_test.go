package herd_test

import (
	"strings"
	"testing"

	"github.com/herdsec/herd"
)

func TestNormalize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // "" means an error containing errWant
		err  string
	}{
		{in: "sha256:275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F", want: "sha256:275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"},
		{in: "sha256:" + strings.Repeat("a", 63), err: `sha256 "aaa`},
		{in: "sha256:" + strings.Repeat("a", 63), err: "want 64 hex digits, got 63 characters"},
		{in: "sha1:" + strings.Repeat("g", 40), err: "not a hex digit at position 1"},
		{in: "md5:44D88612FEA8A8F36DE82E1278ABB02F", want: "md5:44d88612fea8a8f36de82e1278abb02f"},
		{in: "domain:Example.COM.", want: "domain:example.com"},
		{in: "domain:bücher.example", want: "domain:xn--bcher-kva.example"},
		{in: "domain:a..b", err: "empty label"},
		{in: "domain:exa mple.com", err: "not allowed in a host name"},
		{in: "domain:" + strings.Repeat("a", 64) + ".com", err: "label longer than 63"},
		{in: "ip:192.0.2.1", want: "ip:192.0.2.1"},
		{in: "ip:::ffff:192.0.2.1", want: "ip:192.0.2.1"},
		{in: "ip:2001:DB8::1", want: "ip:2001:db8::1"},
		{in: "ip:192.0.2", err: "not an IPv4 or IPv6 address"},
		{in: "url:HTTPS://Example.COM/Path?q=1", want: "url:https://example.com/Path?q=1"},
		{in: "url:http://[2001:DB8::1]:8080/x", want: "url:http://[2001:db8::1]:8080/x"},
		{in: "url:http://a b/", err: "white space"},
		{in: "url:example.com/x", err: "no scheme"},
		{in: "url:javascript:alert(1)", err: "scheme javascript not supported"},
		{in: "url:http:///path", err: "no host"},
		{in: "file:abc", err: `kind "file": unknown`},
		{in: "nocolon", err: "want KIND:VALUE"},
	} {
		got, err := herd.ParseObject(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || herd.ErrorCode(err) != herd.EINVALID {
				t.Errorf("ParseObject(%q) = %v, %v; want EINVALID containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseObject(%q) = %q, %v; want %q", tt.in, got.String(), err, tt.want)
		}
	}
}

func TestBuiltinEICAR(t *testing.T) {
	rs := herd.BuiltinRecords()
	if len(rs) != 3 {
		t.Fatalf("%d builtin records, want 3", len(rs))
	}
	for _, r := range rs {
		if err := r.Validate(); err != nil {
			t.Errorf("%v: %v", r.Object, err)
		}
		if !r.Test || r.Verdict != herd.VerdictMalicious || r.Source != herd.SourceBuiltin {
			t.Errorf("builtin record %+v: want a malicious test verdict", r)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	err := &herd.Error{Code: herd.EINVALID, Message: "objects: 2 of 5 invalid", Problems: []herd.Problem{{Index: 3, Field: "value", Message: "bad"}, {Index: 4, Message: "worse"}}}
	if got := err.Error(); got != `objects: 2 of 5 invalid: item 3: field "value": bad (and 1 more)` {
		t.Fatalf("Error() = %q", got)
	}
	if herd.ErrorMessage(strings.NewReader("").UnreadByte()) != "internal error" {
		t.Fatal("internal errors must not leak their text")
	}
}

func FuzzParseObject(f *testing.F) {
	for _, s := range []string{"sha256:" + herd.EICARSHA256, "url:http://example.com/?a=b#c", "domain:bücher.example", "ip:::1", "url:http://[::1]:80/", "x:y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := herd.ParseObject(s)
		if err != nil {
			if herd.ErrorCode(err) != herd.EINVALID || err.Error() == "" {
				t.Fatalf("ParseObject(%q): error %v is not a clear EINVALID", s, err)
			}
			return
		}
		again, err := o.Normalize()
		if err != nil || again != o {
			t.Fatalf("normalizing %q twice: %q then %q, %v", s, o, again, err)
		}
	})
}
