package cloud

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/privacyaudit"
)

// TestPrivacyAuditFindsPlantedUniqueDevice: devices report through the
// real pipeline with consent; the one device whose OS nobody else runs is
// the one class below k in the audit, which names it by its
// quasi-identifiers only, counts the second pass's catch, is audited,
// and is refused to an analyst.
func TestPrivacyAuditFindsPlantedUniqueDevice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, srv := MustOpenTest(t)
	agent := &httpapi.Client{BaseURL: srv.URL}
	root := &httpapi.Client{BaseURL: srv.URL, Token: TestToken}

	now := time.Now().UTC()
	rec, err := consent.FromProfile(consent.ProfileFull, now)
	if err != nil {
		t.Fatal(err)
	}
	send := func(device string, events ...herd.Event) {
		t.Helper()
		res, err := agent.SendTelemetry(ctx, device, events)
		if err != nil || res.Stored != len(events) {
			t.Fatalf("telemetry of %s: %+v %v", device, res, err)
		}
	}
	info := func(device, os, version string) herd.Event {
		return herd.Event{ID: device + "-info", Type: "device.info", Category: herd.CategoryDevice, Time: now,
			Payload: json.RawMessage(fmt.Sprintf(`{"device_type":"laptop","os_family":%q,"os_version":%q}`, os, version))}
	}
	devices := map[string]string{"lonely-bsd": "bsd"}
	for i := range 6 {
		devices[fmt.Sprint("common-", i)] = "linux"
	}
	for d, os := range devices {
		if _, err := agent.SetConsent(ctx, d, rec); err != nil {
			t.Fatal(err)
		}
		version := "6.8"
		if os == "bsd" {
			version = "14.1"
		}
		send(d, info(d, os, version))
	}
	// An error message with an e-mail address the agent failed to
	// remove: the cloud's second pass removes it and counts it.
	send("common-0", herd.Event{ID: "common-0-err", Type: "agent.error", Category: herd.CategoryOperation, Time: now,
		Payload: json.RawMessage(`{"component":"cloud","code":"cloud.timeout","message":"sync for alice@example.org failed"}`)})

	rep, err := root.PrivacyAudit(ctx, privacyaudit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.K != 5 || rep.Records != 8 || rep.Classes != 3 {
		t.Fatalf("k %d records %d classes %d, want 5, 8, 3", rep.K, rep.Records, rep.Classes)
	}
	// Below k: the planted device and the single error report.
	if rep.ClassesBelowK != 2 || rep.RecordsBelowK != 2 || len(rep.Smallest) != 2 {
		t.Fatalf("below k: %d classes, %d records, listed %+v", rep.ClassesBelowK, rep.RecordsBelowK, rep.Smallest)
	}
	var planted *string
	for _, c := range rep.Smallest {
		if c.Type == "device.info" {
			l := c.Label()
			planted = &l
			if c.Devices != 1 || c.Records != 1 {
				t.Errorf("planted class %s: %d devices, %d records", l, c.Devices, c.Records)
			}
		}
	}
	wantLabel := "device.info country=ZZ hour=" + now.Truncate(time.Hour).Format("2006-01-02T15Z") + " device_type=laptop os_family=bsd os_version=14.1"
	if planted == nil || *planted != wantLabel {
		t.Fatalf("planted device not found: smallest %+v, want %s", rep.Smallest, wantLabel)
	}
	if !rep.SecondPass.Available || rep.SecondPass.ByType["agent.error"] < 1 || rep.SecondPass.Total != rep.SecondPass.ByType["agent.error"] {
		t.Errorf("second pass: %+v", rep.SecondPass)
	}
	if rep.Budget.Available || rep.Budget.Note == "" {
		t.Errorf("budget: %+v, want not available, with a note", rep.Budget)
	}
	// With k = 7 the six common devices are too few as well.
	if rep2, err := root.PrivacyAudit(ctx, privacyaudit.Query{K: 7, ASN: true}); err != nil || rep2.ClassesBelowK != 3 {
		t.Errorf("k=7: %+v %v, want all 3 classes below k", rep2, err)
	}

	// The report names no device and no scrubbed payload.
	raw := mustGet(t, srv.URL+"/v1/admin/privacy/audit?k=5", TestToken, http.StatusOK)
	for _, secret := range []string{"lonely", "common-", "alice", "example.org"} {
		if strings.Contains(raw, secret) {
			t.Errorf("audit answer contains %q: %s", secret, raw)
		}
	}

	for q, msg := range map[string]string{
		"k=1":       "k: 1 is out of range",
		"k=abc":     "is not a number from 2 to 1000",
		"k=5&k=6":   "k: given 2 times",
		"depth=3":   "unknown (only k and asn)",
		"asn=maybe": "neither true nor false",
		"k=1000000": "out of range",
	} {
		body := mustGet(t, srv.URL+"/v1/admin/privacy/audit?"+q, TestToken, http.StatusBadRequest)
		if !strings.Contains(body, msg) {
			t.Errorf("?%s: %s, want %q", q, body, msg)
		}
	}

	ana, err := root.CreateOperator(ctx, "ana", []string{"analyst"})
	if err != nil {
		t.Fatal(err)
	}
	pia, err := root.CreateOperator(ctx, "pia", []string{"privacy-officer"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&httpapi.Client{BaseURL: srv.URL, Token: ana.Token}).PrivacyAudit(ctx, privacyaudit.Query{K: 5}); herd.ErrorCode(err) != herd.EFORBIDDEN {
		t.Errorf("analyst: %v, want forbidden", err)
	}
	if r, err := (&httpapi.Client{BaseURL: srv.URL, Token: pia.Token}).PrivacyAudit(ctx, privacyaudit.Query{K: 5}); err != nil || r.ClassesBelowK != 2 {
		t.Errorf("privacy officer: %+v %v", r, err)
	}
	log, err := root.AuditLog(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	audited := 0
	for _, e := range log.Entries {
		if e.Action == "GET /v1/admin/privacy/audit" && e.Operator == "pia" && e.Target == "/v1/admin/privacy/audit?k=5" {
			audited++
		}
	}
	if audited != 1 {
		t.Errorf("privacy officer's audit run logged %d times, want 1: %+v", audited, log.Entries)
	}
}

// TestPrivacyAuditEmptyStore: an empty store has no class and nothing
// below k.
func TestPrivacyAuditEmptyStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, srv := MustOpenTest(t)
	rep, err := (&httpapi.Client{BaseURL: srv.URL, Token: TestToken}).PrivacyAudit(ctx, privacyaudit.Query{K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.K != 3 || rep.Records != 0 || rep.Classes != 0 || rep.ClassesBelowK != 0 || len(rep.Smallest) != 0 || !rep.SecondPass.Available || rep.SecondPass.Total != 0 {
		t.Fatalf("empty store: %+v", rep)
	}
}

func mustGet(t *testing.T, url, token string, status int) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != status {
		t.Fatalf("GET %s: %s %s, want %d", url, res.Status, b, status)
	}
	return string(b)
}
