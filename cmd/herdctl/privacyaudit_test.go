package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/privacyaudit"
)

// privacy audit prints the k-anonymity audit as a report or as JSON; the
// planted unique device is its one class below k.
func TestPrivacyAudit(t *testing.T) {
	c := MustStartCloud(t)
	hour := time.Now().UTC().Truncate(time.Hour)
	var events []herd.StoredEvent
	for i := range 6 {
		os, version := "windows", "11"
		if i == 5 {
			os, version = "bsd", "14.1"
		}
		events = append(events, herd.StoredEvent{Type: "device.info", Category: herd.CategoryDevice, Hour: hour, Country: "DE", Device: fmt.Sprint("pseudo-", i), DedupID: fmt.Sprint(i),
			Payload: json.RawMessage(fmt.Sprintf(`{"os_family":%q,"os_version":%q}`, os, version))})
	}
	if res, err := c.DB.Telemetry().Append(context.Background(), events); err != nil || res.Stored != 6 {
		t.Fatalf("append: %+v, %v", res, err)
	}

	r := c.run(t, "privacy", "audit", "--k", "5")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("privacy audit:\n%v", r)
	}
	planted := "device.info country=DE hour=" + hour.Format("2006-01-02T15Z") + " device_type=- os_family=bsd os_version=14.1"
	for _, want := range []string{
		"k-anonymity audit of stored telemetry (k = 5 devices)",
		"records: 6 in 2 classes",
		"below k: 1 classes holding 1 records (16.7% of the records)",
		"    1      1  " + planted + "\n",
		"privacy budget: not available",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "windows") {
		t.Errorf("a class of 5 devices is listed with k=5:\n%s", r.stdout)
	}

	r = c.run(t, "privacy", "audit", "--json", "--k", "6")
	if r.code != 0 {
		t.Fatalf("privacy audit --json:\n%v", r)
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	var rep privacyaudit.Report
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("%v\n%v", err, r)
	}
	if rep.K != 6 || rep.ClassesBelowK != 2 || len(rep.Smallest) != 2 || rep.Smallest[0].Label() != planted || rep.Smallest[1].Devices != 5 {
		t.Errorf("--json --k 6: %+v", rep)
	}

	// Every event came from one network: the network splits no class.
	r = c.run(t, "privacy", "audit", "--asn", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"quasi_identifiers": [
    "type",
    "country",
    "asn",
    "hour"
  ]`) || !strings.Contains(r.stdout, `"classes": 2,`) {
		t.Errorf("privacy audit --asn --json:\n%v", r)
	}

	for _, args := range [][]string{{"--k", "1"}, {"--k", "1001"}, {"--k", "x"}, {"extra"}} {
		r := c.run(t, append([]string{"privacy", "audit"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "privacy audit") {
			t.Errorf("privacy audit %v: want a usage error (exit 2)\n%v", args, r)
		}
	}
}
