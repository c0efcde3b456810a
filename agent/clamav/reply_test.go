package clamav

import (
	"errors"
	"strings"
	"testing"
)

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		reply, threat, err string
	}{
		{"stream: OK", "", ""},
		{"stream: OK\n", "", ""},
		{"stream: Win.Test.EICAR_HDB-1 FOUND", "Win.Test.EICAR_HDB-1", ""},
		{"stream: Win.Test.EICAR_HDB-1(44d88612fea8a8f36de82e1278abb02f:68) FOUND", "Win.Test.EICAR_HDB-1", ""},
		{"stream: Heuristics.Encrypted.Zip FOUND", "Heuristics.Encrypted.Zip", ""},
		{"stream: Odd(name) FOUND", "Odd(name)", ""},
		{"stream: Can't allocate memory ERROR", "", "clamd error: Can't allocate memory"},
		{"INSTREAM size limit exceeded. ERROR", "", "INSTREAM size limit exceeded"},
		{"stream:  FOUND", "", "unexpected signature name"},
		{"stream: FOUND", "", "unexpected reply"},
		{"stream: a\x01b FOUND", "", "unexpected signature name"},
		{"UNKNOWN COMMAND", "", "unexpected reply"},
		{"", "", "unexpected reply"},
		{"PONG", "", "unexpected reply"},
	} {
		threat, err := parseReply(tc.reply)
		if threat != tc.threat {
			t.Errorf("parseReply(%q) threat = %q, want %q", tc.reply, threat, tc.threat)
		}
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("parseReply(%q) err = %v, want %q", tc.reply, err, tc.err)
		}
	}
	if _, err := parseReply("INSTREAM size limit exceeded. ERROR"); !errors.Is(err, errSizeLimit) {
		t.Errorf("size limit: %v, want errSizeLimit", err)
	}
}

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"stream: OK\x00", "stream: OK", ""},
		{"stream: OK\x00trailing", "stream: OK", ""},
		{"PONG", "PONG", ""},
		{"", "", "without a reply"},
		{strings.Repeat("x", maxReply+600), "", "longer than"},
	} {
		got, err := readReply(strings.NewReader(tc.in))
		if got != tc.want || tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("readReply(%.20q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// FuzzParseReply checks that any reply gives either a clean verdict, a
// printable threat name taken from a FOUND reply, or an error, and that a
// FOUND reply's name comes back unchanged.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"stream: OK", "stream: Eicar-Test-Signature FOUND", "stream: X(0123456789abcdef0123456789abcdef:1) FOUND",
		"stream: Can't allocate memory ERROR", "INSTREAM size limit exceeded. ERROR", "", "stream: ", "\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		threat, err := parseReply(reply)
		if err != nil && threat != "" {
			t.Fatalf("parseReply(%q) = %q and error %v", reply, threat, err)
		}
		if threat != "" {
			if !strings.HasSuffix(strings.TrimRight(reply, "\n"), " FOUND") || !strings.Contains(reply, threat) || !printable(threat) {
				t.Fatalf("parseReply(%q) = %q: not the name of a FOUND reply", reply, threat)
			}
		}
		if err == nil && threat == "" && strings.TrimRight(reply, "\n") != "stream: OK" {
			t.Fatalf("parseReply(%q): clean verdict from a reply that is not OK", reply)
		}
		// Round trip: a name without details comes back as sent.
		if printable(reply) && reply != "" && !strings.HasSuffix(reply, ")") {
			if got, err := parseReply("stream: " + reply + " FOUND"); err != nil || got != reply {
				t.Fatalf("name %q came back as %q, %v", reply, got, err)
			}
		}
	})
}
