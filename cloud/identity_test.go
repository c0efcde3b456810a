package cloud

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/hardware"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity"
	"github.com/herdsec/herd/identity/pki"
)

// tlsClient returns a client of srv that trusts ca and presents cert if given.
func tlsClient(t testing.TB, url string, ca *pki.Authority, cert *tls.Certificate) *httpapi.Client {
	t.Helper()
	c, err := httpapi.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ClientConfig(ca.CertPEM, cert)
	if err != nil {
		t.Fatal(err)
	}
	c.UseTLS(cfg)
	c.HTTP.Timeout = 10 * time.Second
	return c
}

func adminClient(t testing.TB, url string, ca *pki.Authority) *httpapi.Client {
	c := tlsClient(t, url, ca, nil)
	c.Token = TestToken
	return c
}

// enrolled is a device as the agent keeps it after enrollment.
type enrolled struct {
	identity.Enrollment
	key  *ecdsa.PrivateKey
	pair tls.Certificate
}

// enroll enrolls a machine with hardware id hw under licence key.
func enroll(ctx context.Context, t testing.TB, url string, ca *pki.Authority, key, hw string) (enrolled, error) {
	t.Helper()
	return enrollWith(ctx, t, url, ca, key, hw, nil)
}

// enrollWith enrolls presenting cert (a renewal) if not nil.
func enrollWith(ctx context.Context, t testing.TB, url string, ca *pki.Authority, key, hw string, cert *tls.Certificate) (enrolled, error) {
	t.Helper()
	k, csr, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	res, err := tlsClient(t, url, ca, cert).Enroll(ctx, identity.EnrollRequest{
		LicenceKey: key, CSR: string(csr), Hardware: hardware.Of(hw), OS: "linux", Arch: "amd64", Version: "test",
	})
	if err != nil {
		return enrolled{}, err
	}
	keyPEM, _ := pki.EncodeKey(k)
	pair, err := tls.X509KeyPair([]byte(res.Certificate), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return enrolled{Enrollment: res, key: k, pair: pair}, nil
}

func mustLicence(ctx context.Context, t testing.TB, admin *httpapi.Client, seats int, contact, name string) httpapi.LicenceResponse {
	t.Helper()
	l, err := admin.CreateLicence(ctx, httpapi.LicenceRequest{Seats: seats, Contact: contact, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var eicarObj = []herd.Object{{Kind: herd.KindSHA256, Value: herd.EICARSHA256}}

// TestMutualTLS: the agent routes need an enrolled device's certificate;
// none, one from another CA, an expired one, a revoked one and one replaced
// by a newer enrollment are each refused, and an enrolled agent works.
func TestMutualTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, srv, ca := MustOpenTLSTest(t)
	admin := adminClient(t, srv.URL, ca)
	lic := mustLicence(ctx, t, admin, 5, "", "")

	dev, err := enroll(ctx, t, srv.URL, ca, lic.Key, "machine-a")
	if err != nil {
		t.Fatal(err)
	}
	agent := tlsClient(t, srv.URL, ca, &dev.pair)
	if recs, err := agent.Lookup(ctx, eicarObj); err != nil || recs[0].Verdict != herd.VerdictMalicious {
		t.Fatalf("enrolled agent's lookup: %v %v", recs, err)
	}
	rec, err := consent.FromProfile(consent.ProfileFull, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.SetConsentRecord(ctx, dev.Device, rec); err != nil {
		t.Fatalf("enrolled agent's consent: %v", err)
	}
	if _, err := agent.SetConsentRecord(ctx, strings.Repeat("ab", 16), rec); herd.ErrorCode(err) != herd.EFORBIDDEN {
		t.Fatalf("consent for another device with this certificate: err = %v, want forbidden", err)
	}

	refused := func(what string, c *httpapi.Client) {
		t.Helper()
		if _, err := c.Lookup(ctx, eicarObj); err == nil {
			t.Fatalf("%s: lookup answered", what)
		}
	}
	noCert := tlsClient(t, srv.URL, ca, nil)
	_, err = noCert.Lookup(ctx, eicarObj)
	if herd.ErrorCode(err) != herd.EUNAUTHORIZED || !strings.Contains(err.Error(), "herd enroll") {
		t.Fatalf("no certificate: err = %v, want unauthorized naming herd enroll", err)
	}

	other, _, _ := pki.LoadOrCreate(t.TempDir(), time.Now())
	csr, _ := pki.ParseCertificateRequestPEM(mustCSR(t, dev.key))
	foreign, _ := other.SignDevice(csr, dev.Device, time.Now(), pki.DeviceValidity)
	refused("a certificate from another CA", tlsClient(t, srv.URL, ca, pairOf(t, foreign.Raw, dev.key)))

	expired, _ := ca.SignDevice(csr, dev.Device, time.Now().Add(-48*time.Hour), 24*time.Hour)
	refused("an expired certificate", tlsClient(t, srv.URL, ca, pairOf(t, expired.Raw, dev.key)))

	// A certificate the CA issued but the device never enrolled with (not its current one).
	stray, _ := ca.SignDevice(csr, dev.Device, time.Now(), pki.DeviceValidity)
	refused("a certificate that is not the device's current one", tlsClient(t, srv.URL, ca, pairOf(t, stray.Raw, dev.key)))

	// A renewal: the device enrolls again with its current certificate and
	// keeps its id; the old certificate is then refused.
	renewed, err := enrollWith(ctx, t, srv.URL, ca, lic.Key, "machine-a", &dev.pair)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Device != dev.Device || !renewed.Renewed {
		t.Fatalf("renewal: device %s renewed %v, want %s renewed", renewed.Device, renewed.Renewed, dev.Device)
	}
	refused("the certificate before the renewal", agent)
	agent = tlsClient(t, srv.URL, ca, &renewed.pair)

	// A reinstall (new key, same machine, no certificate): the seat is
	// taken again by a new device; the old one is retired, so knowing the
	// machine's fingerprint and the licence key gives no access to it.
	again, err := enroll(ctx, t, srv.URL, ca, lic.Key, "machine-a")
	if err != nil {
		t.Fatal(err)
	}
	if again.Device == dev.Device || !again.Rebound || again.Renewed {
		t.Fatalf("re-enrollment: device %s rebound %v renewed %v, want a new device, rebound", again.Device, again.Rebound, again.Renewed)
	}
	_, err = agent.Lookup(ctx, eicarObj)
	if herd.ErrorCode(err) != herd.EUNAUTHORIZED || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("the retired device's certificate: %v, want unauthorized, replaced", err)
	}
	agent2 := tlsClient(t, srv.URL, ca, &again.pair)
	if _, err := agent2.Lookup(ctx, eicarObj); err != nil {
		t.Fatalf("re-enrolled agent: %v", err)
	}
	if mine, err := agent2.ExportMyData(ctx); err != nil || mine.Device.ID != again.Device {
		t.Fatalf("the new device's data: %+v %v", mine.Device, err)
	}
	if l, err := admin.Licence(ctx, lic.ID); err != nil || l.Used != 1 || len(l.Devices) != 2 {
		t.Fatalf("licence after a reinstall: %d seats used, %d devices listed (%v), want 1 used, old and new listed", l.Used, len(l.Devices), err)
	}
	dev = again

	// Revocation, twice (the second finds it done and frees nothing more).
	for range 2 {
		if _, err := admin.RevokeDevice(ctx, dev.Device); err != nil {
			t.Fatal(err)
		}
	}
	_, err = agent2.Lookup(ctx, eicarObj)
	if herd.ErrorCode(err) != herd.EUNAUTHORIZED || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked certificate: err = %v, want unauthorized, revoked", err)
	}
	if l, err := admin.Licence(ctx, lic.ID); err != nil || l.Used != 0 {
		t.Fatalf("after revoking its only device the licence has %d seats used (%v)", l.Used, err)
	}

	// A wrong licence key enrolls nothing.
	if _, err := enroll(ctx, t, srv.URL, ca, lic.Key[:len(lic.Key)-4]+"AAAA", "machine-b"); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Fatalf("wrong licence secret: err = %v, want unauthorized", err)
	}
}

func mustCSR(t testing.TB, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := pki.CSRFor(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pairOf(t testing.TB, der []byte, k *ecdsa.PrivateKey) *tls.Certificate {
	t.Helper()
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// TestSeatLimits: a reinstalled machine takes its old seat again; a new
// machine over the limit is refused with a clear error, also when many
// enroll at once.
func TestSeatLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, srv, ca := MustOpenTLSTest(t)
	admin := adminClient(t, srv.URL, ca)
	lic := mustLicence(ctx, t, admin, 2, "", "")
	a, err := enroll(ctx, t, srv.URL, ca, lic.Key, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enroll(ctx, t, srv.URL, ca, lic.Key, "desktop"); err != nil {
		t.Fatal(err)
	}
	_, err = enroll(ctx, t, srv.URL, ca, lic.Key, "third machine")
	if herd.ErrorCode(err) != herd.ECONFLICT || !strings.Contains(err.Error(), "all 2 seats are taken") {
		t.Fatalf("third machine on a 2-seat licence: err = %v, want conflict: all 2 seats are taken", err)
	}
	prev := a.Device
	for i := range 3 { // reinstalled, again and again: no new seat
		r, err := enroll(ctx, t, srv.URL, ca, lic.Key, "laptop")
		if err != nil || r.Device == prev || !r.Rebound {
			t.Fatalf("reinstall %d: %+v %v, want a new device rebound to the seat", i, r.Enrollment, err)
		}
		prev = r.Device
	}
	if l, err := admin.Licence(ctx, lic.ID); err != nil || l.Used != 2 || len(l.Devices) != 5 {
		t.Fatalf("licence: used %d, %d devices listed (%v), want 2 seats used, 5 devices (3 retired)", l.Used, len(l.Devices), err)
	}
	// Revoking frees a seat once, also when revoked again; the freed seat
	// takes a new machine, and the limit holds after.
	if _, err := admin.RevokeDevice(ctx, prev); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RevokeDevice(ctx, prev); err != nil {
		t.Fatal(err)
	}
	if _, err := enroll(ctx, t, srv.URL, ca, lic.Key, "third machine"); err != nil {
		t.Fatalf("a machine on the freed seat: %v", err)
	}
	if _, err := enroll(ctx, t, srv.URL, ca, lic.Key, "fourth machine"); herd.ErrorCode(err) != herd.ECONFLICT {
		t.Fatalf("over the limit after a revocation: %v, want conflict", err)
	}

	// Ten new machines at once on a 3-seat licence: exactly 3 get a seat.
	lic3 := mustLicence(ctx, t, admin, 3, "", "")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, full := 0, 0
	for i := range 10 {
		wg.Go(func() {
			_, err := enroll(ctx, t, srv.URL, ca, lic3.Key, fmt.Sprint("machine ", i))
			mu.Lock()
			defer mu.Unlock()
			switch herd.ErrorCode(err) {
			case "":
				ok++
			case herd.ECONFLICT:
				full++
			default:
				t.Errorf("machine %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok != 3 || full != 7 {
		t.Fatalf("10 machines at once on 3 seats: %d enrolled, %d refused, want 3 and 7", ok, full)
	}
}

// TestIdentityRecordsSealed: a licence's contact e-mail and name, its key
// and its devices' ids are never stored in plain text: no file under the
// data folder holds them.
func TestIdentityRecordsSealed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, srv, ca := MustOpenTLSTest(t)
	admin := adminClient(t, srv.URL, ca)
	const email, name = "alice.canary@example.org", "Alice Canarysdottir"
	lic := mustLicence(ctx, t, admin, 1, email, name)
	dev, err := enroll(ctx, t, srv.URL, ca, lic.Key, "alice's laptop")
	if err != nil {
		t.Fatal(err)
	}
	l, err := admin.Licence(ctx, lic.ID)
	if err != nil || len(l.Devices) != 1 || l.Devices[0].ID != dev.Device || l.Contact != email || l.Name != name {
		t.Fatalf("licence read back: %+v %v", l, err)
	}
	data := c.Data
	c.Close() // flush the file store
	assertNotOnDisk(t, data, map[string][]byte{
		"the e-mail": []byte(email), "the name": []byte(name), "the licence key": []byte(lic.Key), "the device id": []byte(dev.Device),
	})
}

// assertNotOnDisk fails the test for each needle found in any file under dir.
func assertNotOnDisk(t *testing.T, dir string, needles map[string][]byte) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for what, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s is in %s in plain text", what, strings.TrimPrefix(p, dir))
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walk %s: %v (%d files)", dir, err, files)
	}
}
