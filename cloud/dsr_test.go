package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/jetstream"
)

// scanEvents are n scan.finished events whose "files" count first, first+1…
// marks them.
func scanEvents(prefix string, first, n int) []herd.Event {
	evs := make([]herd.Event, n)
	for i := range evs {
		evs[i] = herd.Event{ID: fmt.Sprintf("%s-%d", prefix, i), Type: "scan.finished", Category: herd.CategoryOperation, Time: time.Now().UTC(),
			Payload: json.RawMessage(fmt.Sprintf(`{"files":%d,"duration_ms":5,"trigger":"manual"}`, first+i))}
	}
	return evs
}

// person is a licence holder with enrolled devices that sent telemetry.
type person struct {
	licence httpapi.LicenceResponse
	devices []enrolled
	agents  []*httpapi.Client
	marks   []int // the "files" values of their events
}

// plant makes a person with n devices, each with two consent records and
// events events (stored as one message per batch of 100), marked from
// first on.
func plant(ctx context.Context, t testing.TB, url string, admin *httpapi.Client, c *Cloud, tag string, n, events, first int) person {
	t.Helper()
	p := person{licence: mustLicence(ctx, t, admin, n, tag+"@example.org", "Name "+tag)}
	ca := c.Identity.CA
	for i := range n {
		d, err := enroll(ctx, t, url, ca, p.licence.Key, fmt.Sprint(tag, " machine ", i))
		if err != nil {
			t.Fatal(err)
		}
		agent := tlsClient(t, url, ca, &d.pair)
		for _, profile := range []string{consent.ProfileHomeMinimal, consent.ProfileFull} {
			rec, _ := consent.FromProfile(profile, time.Now())
			if _, err := agent.SetConsentRecord(ctx, d.Device, rec); err != nil {
				t.Fatal(err)
			}
		}
		// In batches of 100, as agents send them (report.BatchSize).
		for sent := 0; sent < events; sent += 100 {
			k := min(100, events-sent)
			start := first + i*events + sent
			res, err := agent.SendTelemetry(ctx, d.Device, scanEvents(fmt.Sprint(tag, i, "-", sent), start, k))
			if err != nil || res.Stored != k {
				t.Fatalf("telemetry: %+v %v", res, err)
			}
			for j := range k {
				p.marks = append(p.marks, start+j)
			}
		}
		p.devices = append(p.devices, d)
		p.agents = append(p.agents, agent)
	}
	return p
}

// TestExportCompleteness: a person's export holds every record planted
// for them (licence with e-mail and name, each device, each consent record,
// each event) and nothing of another person.
func TestExportCompleteness(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c, srv, ca := MustOpenTLSTest(t)
	admin := adminClient(t, srv.URL, ca)
	alice := plant(ctx, t, srv.URL, admin, c, "alice", 2, 30, 1000)
	bob := plant(ctx, t, srv.URL, admin, c, "bob", 1, 20, 5000)

	ex, err := admin.ExportPerson(ctx, alice.licence.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Licence.ID != alice.licence.ID || ex.Licence.Contact != "alice@example.org" || ex.Licence.Name != "Name alice" || ex.Licence.Secret != "" {
		t.Fatalf("licence in the export: %+v", ex.Licence)
	}
	if len(ex.Devices) != 2 {
		t.Fatalf("%d devices in the export, want 2", len(ex.Devices))
	}
	got := map[int]bool{}
	for i, d := range ex.Devices {
		if d.Device.ID != alice.devices[0].Device && d.Device.ID != alice.devices[1].Device {
			t.Fatalf("device %d: %s is not alice's", i, d.Device.ID)
		}
		if len(d.Data.Consent) != 2 {
			t.Errorf("device %s: %d consent records, want both planted", d.Device.ID, len(d.Data.Consent))
		}
		for _, ev := range d.Data.Telemetry {
			var p struct{ Files int }
			json.Unmarshal(ev.Payload, &p)
			got[p.Files] = true
		}
	}
	for _, m := range alice.marks {
		if !got[m] {
			t.Errorf("event %d missing from the export", m)
		}
	}
	if len(got) != len(alice.marks) {
		t.Errorf("export holds %d events, %d planted", len(got), len(alice.marks))
	}
	// Each stored event is kept as long as its type's retention says.
	err = c.DB.Telemetry().Each(ctx, func(e jetstream.Stored) error {
		if want := 14 * 24 * time.Hour; e.Type == "scan.finished" && e.Retention != want {
			t.Fatalf("scan.finished stored with retention %v, want the inventory's %v", e.Retention, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(ex)
	for _, s := range []string{bob.licence.ID, bob.devices[0].Device, "bob@example.org", "Name bob", `"files":5000`} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("alice's export holds bob's %q", s)
		}
	}

	// The device's own export (herd my-data export) holds its part.
	mine, err := alice.agents[1].ExportMyData(ctx)
	if err != nil || mine.Device.ID != alice.devices[1].Device || len(mine.Data.Telemetry) != 30 || len(mine.Data.Consent) != 2 {
		t.Fatalf("my-data export: device %s, %d events, %d consent records, %v", mine.Device.ID, len(mine.Data.Telemetry), len(mine.Data.Consent), err)
	}
	if _, err := tlsClient(t, srv.URL, ca, nil).ExportMyData(ctx); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Fatalf("my-data without a certificate: %v", err)
	}
}

// TestCryptoShredding: after a person is deleted, nothing of them is left
// readable: their telemetry, consent records and identity records are
// erased, their licence's data key is gone (the only key their sealed
// records open with: its bytes are nowhere under the data folder), no file
// holds their e-mail or name, and their devices' certificates are refused.
// Another person is untouched.
func TestCryptoShredding(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c, srv, ca := MustOpenTLSTest(t)
	admin := adminClient(t, srv.URL, ca)
	carol := plant(ctx, t, srv.URL, admin, c, "carol", 2, 25, 1000)
	dave := plant(ctx, t, srv.URL, admin, c, "dave", 1, 10, 9000)
	// Carol's first device reports a detection: the fleet's evidence of
	// that file then counts its pseudonym.
	obj := herd.Object{Kind: herd.KindSHA256, Value: strings.Repeat("c4", 32)}
	res0, err := carol.agents[0].SendTelemetry(ctx, carol.devices[0].Device, []herd.Event{{ID: "carol-threat", Type: "threat.detected", Category: herd.CategoryThreats, Time: time.Now().UTC(),
		Payload: json.RawMessage(`{"sha256":"` + obj.Value + `","threat_name":"Trojan.Carol","method":"signature","action":"quarantined"}`)}})
	if err != nil || res0.Stored != 1 {
		t.Fatalf("threat report: %+v %v", res0, err)
	}
	counted := func() bool {
		ev, err := c.DB.Evidence().Evidence(ctx, obj)
		if herd.ErrorCode(err) == herd.ENOTFOUND {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range c.Keys.All(carol.devices[0].Device) {
			if slices.Contains(ev.Devices, p) {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(20 * time.Second); !counted(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the reputation engine did not count carol's device in 20 s")
		}
	}
	wrapped, _, err := c.Identity.Stores.Keys.Get(ctx, carol.licence.ID)
	if err != nil || len(wrapped) < 32 {
		t.Fatalf("carol's data key: %d bytes, %v", len(wrapped), err)
	}
	sealed, _, err := c.Identity.Stores.Licences.Get(ctx, carol.licence.ID)
	if err != nil {
		t.Fatal(err)
	}

	res, err := admin.DeletePerson(ctx, carol.licence.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified || !res.Identity.DataKeyErased || len(res.Devices) != 2 {
		t.Fatalf("deletion receipt: %+v", res)
	}
	var erased uint64
	for _, d := range res.Devices {
		erased += d.Telemetry[herd.CategoryOperation]
		if d.ConsentRecords != 2 || d.Remaining != 0 {
			t.Errorf("device erasure %+v: want 2 consent records, nothing remaining", d)
		}
	}
	if erased != 50 {
		t.Errorf("%d events erased, want 50", erased)
	}
	if d := res.Devices[carol.devices[0].Device]; d.Evidence != 1 || d.Telemetry[herd.CategoryThreats] != 1 {
		t.Errorf("first device's erasure %+v: want its threat report erased and 1 object's evidence changed", d)
	}
	if counted() {
		t.Error("the fleet's evidence still counts the erased device")
	}
	if _, err := admin.ExportPerson(ctx, carol.licence.ID); herd.ErrorCode(err) != herd.ENOTFOUND {
		t.Errorf("export after deletion: %v, want not found", err)
	}
	if _, err := carol.agents[0].Lookup(ctx, eicarObj); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Errorf("a deleted person's device certificate: %v, want unauthorized", err)
	}
	if _, _, err := c.Identity.Stores.Keys.Get(ctx, carol.licence.ID); herd.ErrorCode(err) != herd.ENOTFOUND {
		t.Errorf("data key after deletion: %v, want gone", err)
	}
	// Dave is untouched.
	if ex, err := admin.ExportPerson(ctx, dave.licence.ID); err != nil || len(ex.Devices) != 1 || len(ex.Devices[0].Data.Telemetry) != 10 {
		t.Fatalf("dave after carol's deletion: %+v %v", ex, err)
	}

	data := c.Data
	c.Close() // everything on disk
	// Superseded revisions of sealed records may stay in the file store
	// until it compacts; they open only with the licence's data key, whose
	// one stored copy was overwritten: not even the vault's master key
	// opens them.
	if _, err := c.Identity.Vault.Open(sealed, []byte("licence/"+carol.licence.ID)); err == nil {
		t.Fatal("the master key opened a record sealed under the licence's data key")
	}
	assertNotOnDisk(t, data, map[string][]byte{
		"carol's e-mail":             []byte("carol@example.org"),
		"carol's name":               []byte("Name carol"),
		"carol's data key (wrapped)": wrapped[len(wrapped)-32:],
	})
}
