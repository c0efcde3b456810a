package main

import (
	"bytes"
	"context"
	"github.com/herdsec/herd/identity/pki"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// canaries are the planted personal data of testdata/canary.jsonl, in every
// form they could be stored in. None may be found in the cloud's data dir.
var canaries = []string{
	"canary.person@example.org", // e-mail, in free text, a command line and a URL path
	"zebulonq", "Zebulonw",      // user names in Linux and Windows paths
	"zebulon.canary", "Pa55CanaryWord", // user info in URLs
	"CanarySession0123456789abcdef", "frag-canary", // a session id in a query, a fragment
	"Hunter2CanaryPass",                           // a password flag
	"ghp_CanaryTokenAbcdefghijklmnopqrstuvwxyz01", // a GitHub token
	"AKIAIOSFODNN7CANARYX",                        // an AWS access key id
	"4111 1111 1111 1111", "4111111111111111",     // a payment card
	"203.0.113.77",                         // an IP address
	"+44 20 7946 0958",                     // a phone number
	"5b0e7d2c-9a41-4f63-b8d2-1c7e9f0a3b64", // a device id on a command line
	"canaryadmin", "CanaryDbSecret9",       // credentials in a connection string
}

// TestCanary sends events full of planted personal data through the real
// agent (the herd binary) to a real herdd, stops herdd so that everything is
// on disk, and searches every byte of every file under its data dir — the
// JetStream store included — for each canary and for the agent's device id.
func TestCanary(t *testing.T) {
	herdBin, _ := MustBuildCLIs(t)
	dir := t.TempDir()
	m := MustRunHerdd(t, dir, "")
	state := t.TempDir()
	for _, args := range [][]string{
		{"enroll", "--license", mustLicenceKey(t, m, 1), "--ca-fingerprint", m.CA().Fingerprint()},
		{"consent", "set", "full"},
		{"report", filepath.Join("testdata", "canary.jsonl")},
	} {
		code, out, errOut := run(t, herdBin, append([]string{"--cloud", m.URL(), "--ca", filepath.Join(m.Config.Data, TLSDir, pki.CAFile), "--state", state}, args...)...)
		if code != 0 {
			t.Fatalf("herd %v: exit %d\n%s%s", args, code, out, errOut)
		}
		if args[0] == "report" && !strings.Contains(out, "sent 11 events") {
			t.Fatalf("herd report did not send all 11 events:\n%s%s", out, errOut)
		}
	}
	code, out, _ := run(t, herdBin, "--state", state, "privacy", "last")
	if code != 0 || !strings.Contains(out, `"device":"`) {
		t.Fatalf("herd privacy last: exit %d\n%s", code, out)
	}
	device := between(out, `"device":"`, `"`)
	if len(device) < 16 {
		t.Fatalf("no device id in the sent batch:\n%s", out)
	}
	// The agent scrubbed before sending: the canaries never left the device.
	for _, c := range canaries {
		if strings.Contains(out, c) {
			t.Errorf("canary %q was sent to the cloud", c)
		}
	}
	st, err := m.db.Telemetry().Stats(context.Background())
	if err != nil || st.Events != 11 {
		t.Fatalf("stored %+v (%v), want the 11 events", st, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	needles := append([]string{device}, canaries...)
	files, size := 0, 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		size += len(b)
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%s holds %q", path, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The search looked at a store that holds the events.
	if files < 3 || size < 11*100 {
		t.Fatalf("searched only %d files, %d bytes", files, size)
	}
	t.Logf("searched %d files, %d bytes, for %d canaries", files, size, len(needles))
}

func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, end)
	return v
}
