package cloud

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity/pki"
	"github.com/herdsec/herd/jetstream"
)

// testSampleCap is the upload cap of the clouds of these tests.
const testSampleCap = 64 << 10

// mustOpenSampleCloud is MustOpenTLSTest with the sample cap given.
func mustOpenSampleCloud(tb testing.TB, sampleCap int64) (*Cloud, *httptest.Server, *pki.Authority) {
	tb.Helper()
	return MustOpenTLSTestWith(tb, func(o *Options) { o.SampleMaxBytes = sampleCap })
}

// testFile returns an executable-looking file of n bytes holding a random
// marker (so that finding it anywhere means the file is there in clear)
// and its offer.
func testFile(t testing.TB, head string, n int) ([]byte, httpapi.SampleOffer, []byte) {
	t.Helper()
	marker := make([]byte, 32)
	if _, err := rand.Read(marker); err != nil {
		t.Fatal(err)
	}
	marker = []byte("HERD-SAMPLE-MARKER-" + hex.EncodeToString(marker))
	b := bytes.Repeat([]byte{0x90}, n)
	copy(b, head)
	copy(b[len(head):], marker)
	sum := sha256.Sum256(b)
	typ := "elf"
	if strings.HasPrefix(head, "#!") {
		typ = "script"
	}
	return b, httpapi.SampleOffer{SHA256: hex.EncodeToString(sum[:]), FileType: typ}, marker
}

func upload(ctx context.Context, c *httpapi.Client, o httpapi.SampleOffer, b []byte) (httpapi.SampleReceipt, error) {
	return c.UploadSample(ctx, o, bytes.NewReader(b), int64(len(b)))
}

func wantCode(t *testing.T, what string, err error, code, text string) {
	t.Helper()
	if herd.ErrorCode(err) != code || !strings.Contains(err.Error(), text) {
		t.Fatalf("%s: err = %v, want %s mentioning %q", what, err, code, text)
	}
}

// TestSamples: an enrolled device uploads a suspicious file only with the
// suspicious category consented; the bytes must match the hash and fit the
// cap; the cloud keeps them sealed, once; an analyst lists, downloads (the
// same bytes, audited) and judges them, and lookups serve the verdict;
// erasing the only person who offered a file makes it unreadable.
func TestSamples(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c, srv, ca := mustOpenSampleCloud(t, testSampleCap)
	admin := adminClient(t, srv.URL, ca)
	licA := mustLicence(ctx, t, admin, 2, "alice@example.org", "Alice")
	licB := mustLicence(ctx, t, admin, 2, "bob@example.org", "Bob")
	devA, err := enroll(ctx, t, srv.URL, ca, licA.Key, "machine-a")
	if err != nil {
		t.Fatal(err)
	}
	devB, err := enroll(ctx, t, srv.URL, ca, licB.Key, "machine-b")
	if err != nil {
		t.Fatal(err)
	}
	agentA := tlsClient(t, srv.URL, ca, &devA.pair)
	agentB := tlsClient(t, srv.URL, ca, &devB.pair)

	elf, elfOffer, elfMarker := testFile(t, "\x7fELF\x02\x01\x01", 40<<10)
	script, scriptOffer, scriptMarker := testFile(t, "#!/bin/sh\n", 3000)

	// Consent: none at all, then a profile without the suspicious category.
	_, err = upload(ctx, agentA, elfOffer, elf)
	wantCode(t, "upload without a consent record", err, herd.ECONSENT, "consent")
	minimal, err := consent.FromProfile(consent.ProfileHomeMinimal, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agentA.SetConsentRecord(ctx, devA.Device, minimal); err != nil {
		t.Fatal(err)
	}
	_, err = upload(ctx, agentA, elfOffer, elf)
	wantCode(t, "upload with the suspicious category off", err, herd.ECONSENT, "suspicious")
	if recs, err := c.Samples.Records(ctx); err != nil || len(recs) != 0 {
		t.Fatalf("after refused uploads the cloud holds %d samples (%v)", len(recs), err)
	}
	full, err := consent.FromProfile(consent.ProfileFull, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		c   *httpapi.Client
		dev string
	}{{agentA, devA.Device}, {agentB, devB.Device}} {
		if _, err := d.c.SetConsentRecord(ctx, d.dev, full); err != nil {
			t.Fatal(err)
		}
	}

	// Bad uploads: the bytes do not match the hash; over the cap, said by
	// Content-Length or found while reading; no device certificate.
	bad := elfOffer
	bad.SHA256 = scriptOffer.SHA256
	_, err = upload(ctx, agentA, bad, elf)
	wantCode(t, "upload whose bytes do not match the hash", err, herd.EINVALID, "SHA-256")
	big, bigOffer, _ := testFile(t, "MZ", testSampleCap+1)
	_, err = upload(ctx, agentA, bigOffer, big)
	wantCode(t, "upload over the cap", err, herd.ETOOLARGE, "cap of 65536 bytes")
	_, err = agentA.UploadSample(ctx, bigOffer, bytes.NewReader(big), -1) // no Content-Length
	wantCode(t, "upload over the cap, sent chunked", err, herd.ETOOLARGE, "cap of 65536 bytes")
	_, err = upload(ctx, tlsClient(t, srv.URL, ca, nil), elfOffer, elf)
	wantCode(t, "upload without a device certificate", err, herd.EUNAUTHORIZED, "herd enroll")
	noType := elfOffer
	noType.FileType = "docx"
	_, err = upload(ctx, agentA, noType, elf)
	wantCode(t, "upload with an unknown file type", err, herd.EINVALID, httpapi.HeaderSampleType)

	// Uploads: new bytes are stored; the same file again, from the same
	// device or another licence's, only counts the device.
	r, err := upload(ctx, agentA, elfOffer, elf)
	if err != nil || !r.Stored || r.Devices != 1 || r.Status != "queued" || r.SHA256 != elfOffer.SHA256 {
		t.Fatalf("first upload: %+v %v", r, err)
	}
	first, _, err := c.Samples.Record(ctx, elfOffer.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range []*httpapi.Client{agentA, agentB, agentB} {
		r, err := upload(ctx, a, elfOffer, elf)
		if want := min(i+1, 2); err != nil || r.Stored || r.Devices != want {
			t.Fatalf("upload %d of a held file: %+v %v, want not stored, %d devices", i+2, r, err, want)
		}
	}
	rec, _, err := c.Samples.Record(ctx, elfOffer.SHA256)
	if err != nil || rec.Object != first.Object || len(rec.Keys) != 2 || len(rec.Devices) != 2 {
		t.Fatalf("index entry after uploads from two licences: %+v %v, want object %s kept, 2 wraps, 2 devices", rec, err, first.Object)
	}
	for _, p := range rec.Devices {
		if p == devA.Device || p == devB.Device {
			t.Fatalf("the index lists a device id in clear: %v", rec.Devices)
		}
	}
	if r, err := upload(ctx, agentA, scriptOffer, script); err != nil || !r.Stored {
		t.Fatalf("second file: %+v %v", r, err)
	}

	// The stored objects are sealed: neither file appears in them.
	for _, f := range []struct {
		sha    string
		plain  []byte
		marker []byte
	}{{elfOffer.SHA256, elf, elfMarker}, {scriptOffer.SHA256, script, scriptMarker}} {
		rec, _, err := c.Samples.Record(ctx, f.sha)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := c.Samples.Sealed(ctx, rec.Object)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) < len(f.plain) || bytes.Contains(raw, f.marker) || bytes.Contains(raw, f.plain[:64]) {
			t.Fatalf("sample %s: the stored object (%d bytes) holds the file in clear", f.sha, len(raw))
		}
	}

	// The analyst's side: roles, the list (queued first), the download.
	ana, err := admin.CreateOperator(ctx, "ana", []string{"analyst"})
	if err != nil {
		t.Fatal(err)
	}
	sam, err := admin.CreateOperator(ctx, "sam", []string{"support"})
	if err != nil {
		t.Fatal(err)
	}
	analyst, support := tlsClient(t, srv.URL, ca, nil), tlsClient(t, srv.URL, ca, nil)
	analyst.Token, support.Token = ana.Token, sam.Token
	_, err = support.Samples(ctx)
	wantCode(t, "support lists samples", err, herd.EFORBIDDEN, "analyst")
	_, _, err = support.Sample(ctx, elfOffer.SHA256, 1<<20)
	wantCode(t, "support downloads a sample", err, herd.EFORBIDDEN, "analyst")

	got, typ, err := analyst.Sample(ctx, elfOffer.SHA256, 1<<20)
	if err != nil || !bytes.Equal(got, elf) || typ != "elf" {
		t.Fatalf("download: %d bytes, type %q, %v; want the %d bytes uploaded, elf", len(got), typ, err, len(elf))
	}
	_, _, err = analyst.Sample(ctx, strings.Repeat("ab", 32), 1<<20)
	wantCode(t, "download of a sample not held", err, herd.ENOTFOUND, "not held")
	_, _, err = analyst.Sample(ctx, "xyz", 1<<20)
	wantCode(t, "download with a bad hash", err, herd.EINVALID, "64 hex digits")

	if resp, err := analyst.SetSampleVerdict(ctx, elfOffer.SHA256, herd.VerdictMalicious, "Linux.Test.Sample"); err != nil ||
		resp.Sample.Status != "reviewed" || resp.Sample.Reviewer != "ana" || resp.Sample.Verdict != herd.VerdictMalicious {
		t.Fatalf("verdict: %+v %v", resp, err)
	}
	_, err = analyst.SetSampleVerdict(ctx, scriptOffer.SHA256, "", "")
	wantCode(t, "verdict without a verdict", err, herd.EINVALID, "verdict")
	_, err = analyst.SetSampleVerdict(ctx, strings.Repeat("cd", 32), herd.VerdictClean, "")
	wantCode(t, "verdict on a sample not held", err, herd.ENOTFOUND, "not held")

	list, err := analyst.Samples(ctx)
	if err != nil || len(list.Samples) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	q, done := list.Samples[0], list.Samples[1]
	if q.SHA256 != scriptOffer.SHA256 || q.Status != "queued" || q.FileType != "script" || q.Size != int64(len(script)) || q.Devices != 1 ||
		done.SHA256 != elfOffer.SHA256 || done.Status != "reviewed" || done.Devices != 2 || done.Threat != "Linux.Test.Sample" ||
		!done.FirstSeen.Equal(done.FirstSeen.Truncate(time.Hour)) || done.FirstSeen.IsZero() {
		t.Fatalf("list, want the queued script first, then the reviewed ELF: %+v", list.Samples)
	}

	// The verdict is served to agents' lookups at once.
	recs, err := agentB.Lookup(ctx, []herd.Object{{Kind: herd.KindSHA256, Value: elfOffer.SHA256}})
	if err != nil || recs[0].Verdict != herd.VerdictMalicious || recs[0].Threat != "Linux.Test.Sample" || recs[0].Source != herd.SourceOperator {
		t.Fatalf("lookup after the verdict: %+v %v", recs, err)
	}

	// The download is in the audit log, under the analyst.
	log, err := admin.AuditLog(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	audited := false
	for _, e := range log.Entries {
		if e.Operator == "ana" && e.Action == "GET /v1/admin/samples/{sha256}" && e.Target == "/v1/admin/samples/"+elfOffer.SHA256 {
			audited = true
		}
	}
	if !audited {
		t.Fatalf("the download is not in the audit log: %+v", log.Entries)
	}

	// A person's export lists the files their device offered.
	ex, err := admin.ExportPerson(ctx, licA.ID)
	if err != nil || len(ex.Devices) != 1 {
		t.Fatalf("export: %+v %v", ex, err)
	}
	if got, want := ex.Devices[0].Data.Samples, []string{elfOffer.SHA256, scriptOffer.SHA256}; !equalSorted(got, want) {
		t.Fatalf("export lists samples %v, want %v", got, want)
	}
	elfRec, _, err := c.Samples.Record(ctx, elfOffer.SHA256)
	if err != nil {
		t.Fatal(err)
	}

	// Erasing Alice: the script only she offered is erased; the ELF,
	// offered by Bob too, no longer counts her device and stays readable
	// through Bob's licence.
	del, err := admin.DeletePerson(ctx, licA.ID)
	if err != nil || !del.Verified || del.Devices[devA.Device].Samples != 2 {
		t.Fatalf("delete person: %+v %v, want verified, 2 samples", del, err)
	}
	_, _, err = analyst.Sample(ctx, scriptOffer.SHA256, 1<<20)
	wantCode(t, "download of a sample whose only device was erased", err, herd.ENOTFOUND, "not held")
	if got, _, err := analyst.Sample(ctx, elfOffer.SHA256, 1<<20); err != nil || !bytes.Equal(got, elf) {
		t.Fatalf("download of a sample another licence offered too: %d bytes, %v", len(got), err)
	}
	if list, err := analyst.Samples(ctx); err != nil || len(list.Samples) != 1 || list.Samples[0].Devices != 1 {
		t.Fatalf("list after the erasure: %+v %v, want the ELF alone, 1 device", list, err)
	}
	// Crypto-shredding: Alice's wrap of the ELF's content key, kept from
	// before, can no longer be opened: her licence's data key is gone.
	svc := &samples{store: c.Samples, ingest: c.Ingest, identity: c.Identity, now: time.Now}
	_, err = svc.contentKey(ctx, jetstream.SampleRecord{SHA256: elfOffer.SHA256, Keys: map[string][]byte{licA.ID: elfRec.Keys[licA.ID]}})
	wantCode(t, "opening the content key through an erased licence", err, herd.ENOTFOUND, "no longer readable")
	if _, err := svc.contentKey(ctx, jetstream.SampleRecord{SHA256: elfOffer.SHA256, Keys: map[string][]byte{licB.ID: elfRec.Keys[licB.ID]}}); err != nil {
		t.Fatalf("opening the content key through a kept licence: %v", err)
	}
	mine, err := agentB.ExportMyData(ctx)
	if err != nil || !equalSorted(mine.Data.Samples, []string{elfOffer.SHA256}) {
		t.Fatalf("Bob's device's data: samples %v, %v", mine.Data.Samples, err)
	}

	// Nothing of either file is on disk in clear.
	data := c.Data
	c.Close() // flush the file store
	assertNotOnDisk(t, data, map[string][]byte{"the ELF file": elfMarker, "the script": scriptMarker})
}

func equalSorted(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
