package main

import (
	"bytes"
	"context"
	"encoding/json"
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

// TestDataSubjectRequests drives access and deletion requests through the
// real binaries: the agent exports and erases its own data (herd my-data),
// a privacy officer a licence holder's (herdctl person).
func TestDataSubjectRequests(t *testing.T) {
	herdBin, herdctlBin := MustBuildCLIs(t)
	dir := t.TempDir()
	m := MustRunHerdd(t, dir, "")
	ctl := func(args ...string) (int, string, string) {
		return run(t, herdctlBin, append([]string{"--cloud", m.URL(), "--data", dir}, args...)...)
	}
	code, out, errOut := ctl("license", "create", "--seats", "2", "--contact", "erin@example.org", "--name", "Erin Example")
	if code != 0 {
		t.Fatalf("license create: %d %s%s", code, out, errOut)
	}
	key := between(out, "key: ", "\n")
	licence := between(out, "license ", ":")
	state := t.TempDir()
	agent := func(args ...string) (int, string, string) {
		return run(t, herdBin, append([]string{"--state", state}, args...)...)
	}
	for _, args := range [][]string{
		{"enroll", "--cloud", m.URL(), "--license", key, "--ca-fingerprint", m.CA().Fingerprint()},
		{"consent", "set", "full"},
		{"report", filepath.Join("testdata", "canary.jsonl")},
	} {
		if code, out, errOut := agent(args...); code != 0 {
			t.Fatalf("herd %v: %d\n%s%s", args, code, out, errOut)
		}
	}
	exportFile := filepath.Join(t.TempDir(), "mine.json")
	if code, out, errOut := agent("my-data", "export", "--out", exportFile); code != 0 {
		t.Fatalf("herd my-data export: %d\n%s%s", code, out, errOut)
	}
	var mine struct {
		Device struct{ ID, Licence string }
		Data   struct {
			Consent   []json.RawMessage
			Telemetry []json.RawMessage
		}
	}
	b, _ := os.ReadFile(exportFile)
	if err := json.Unmarshal(b, &mine); err != nil || mine.Device.Licence != licence || len(mine.Data.Telemetry) != 11 || len(mine.Data.Consent) != 1 {
		t.Fatalf("my-data export: licence %q, %d events, %d consent records (%v)\n%.500s", mine.Device.Licence, len(mine.Data.Telemetry), len(mine.Data.Consent), err, b)
	}
	if st, _ := os.Stat(exportFile); st.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v, want 0600", st.Mode().Perm())
	}

	// The privacy officer's export of the licence holder has the same and more.
	code, out, errOut = ctl("person", "export", licence)
	if code != 0 || !strings.Contains(out, "erin@example.org") || !strings.Contains(out, mine.Device.ID) {
		t.Fatalf("herdctl person export: %d\n%.800s%s", code, out, errOut)
	}

	// The agent erases its own data: verified, and it is no longer enrolled.
	code, out, errOut = agent("my-data", "delete")
	if code != 0 || !strings.Contains(out, `"verified": true`) {
		t.Fatalf("herd my-data delete: %d\n%s%s", code, out, errOut)
	}
	if st, err := m.db.Telemetry().Stats(context.Background()); err != nil || st.Events != 0 {
		t.Fatalf("telemetry after my-data delete: %+v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(state, "tls")); !os.IsNotExist(err) {
		t.Errorf("the agent kept its enrollment after its data was erased: %v", err)
	}

	// The officer erases the licence holder.
	code, out, errOut = ctl("person", "delete", licence)
	if code != 0 || !strings.Contains(out, `"verified": true`) || !strings.Contains(out, `"data_key_erased": true`) {
		t.Fatalf("herdctl person delete: %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := ctl("person", "export", licence); code == 0 || !strings.Contains(errOut, "no such licence") {
		t.Fatalf("export after deletion: %d %s%s", code, out, errOut)
	}
	// Both requests are in the audit log, which verifies.
	code, out, errOut = ctl("audit", "show", "--last", "50")
	if code != 0 || !strings.Contains(out, "DELETE /v1/admin/licenses/{id}") || !strings.Contains(out, "GET /v1/admin/licenses/{id}/export") ||
		!strings.Contains(out, "GET /v1/my-data") || !strings.Contains(out, "DELETE /v1/my-data") {
		t.Fatalf("audit show: %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := ctl("audit", "verify"); code != 0 || !strings.Contains(out, "chain intact") {
		t.Fatalf("audit verify: %d\n%s%s", code, out, errOut)
	}
}
