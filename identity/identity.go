// Package identity is the identity side of the cloud, kept apart from
// telemetry: licences, enrolled devices and the binding of each device to
// its licence by a keyed hardware fingerprint. Every record is sealed with
// Tink AEAD before it is stored: a licence's records (the licence, its
// devices) under the licence's own data key, itself wrapped by the vault's
// master key, so that destroying that one key makes them unreadable.
// Devices authenticate with client certificates the cloud's CA issues at
// enrollment.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/identity/pki"
)

// KV is one identity bucket. Get returns ENOTFOUND for a missing key;
// Create and Update return ECONFLICT when the key exists or changed.
type KV interface {
	Get(ctx context.Context, key string) ([]byte, uint64, error)
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	Delete(ctx context.Context, key string) error
}

// Sealer is the key material: the vault.
type Sealer interface {
	Seal(plain, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
	MAC(purpose string, data []byte) (string, error)
	NewDataKey(ad []byte) ([]byte, tink.AEAD, error)
	DataKey(wrapped, ad []byte) (tink.AEAD, error)
}

// Stores are the identity buckets.
type Stores struct {
	Licences, Devices, Bindings, Keys KV
	// Seats lists each licence's devices: key LICENCE.KEYED-DEVICE-ID.
	Seats Lister
	// Operators holds the named operators, by name.
	Operators Lister
}

// Lister is a bucket whose keys can be listed by prefix.
type Lister interface {
	KV
	KeysWithPrefix(ctx context.Context, prefix string) ([]string, error)
}

// Limits of what a licence and an enrollment may hold.
const (
	MaxSeats       = 1_000_000
	maxCSR         = 8 << 10
	maxFact        = 64
	maxName        = 200
	maxEmail       = 254
	authCacheTTL   = 10 * time.Second
	authCacheLimit = 100_000
	casAttempts    = 16
)

// Service runs licences and enrollment.
type Service struct {
	CA     *pki.Authority
	Stores Stores
	Vault  Sealer
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger

	mu    sync.Mutex
	keys  map[string]tink.AEAD // licence id → data key
	auths map[string]authEntry // certificate serial → checked device
}

type authEntry struct {
	device  string
	expires time.Time
}

// Licence is a licence record.
type Licence struct {
	ID      string    `json:"id"`
	Secret  string    `json:"secret,omitempty"` // keyed hash of the key's secret part (never sent)
	Seats   int       `json:"seats"`
	Used    int       `json:"used"` // seats held by devices
	Created time.Time `json:"created"`
	Contact string    `json:"contact,omitempty"` // e-mail of the person the licence is for
	Name    string    `json:"name,omitempty"`    // their display name
}

// Device is an enrolled device.
type Device struct {
	ID       string    `json:"id"`
	Licence  string    `json:"licence"`
	Binding  string    `json:"binding,omitempty"` // key of its hardware binding (never sent)
	Serial   string    `json:"serial"`            // the certificate in force
	NotAfter time.Time `json:"not_after"`
	Enrolled time.Time `json:"enrolled"`
	Renewed  time.Time `json:"renewed"`
	Revoked  time.Time `json:"revoked,omitzero"`
	// ReplacedBy: the device that took its seat when its machine enrolled again.
	ReplacedBy string `json:"replaced_by,omitempty"`
	// SeatFreed: its seat was given back (or passed on).
	SeatFreed bool   `json:"seat_freed,omitempty"`
	OS        string `json:"os,omitempty"`
	Arch      string `json:"arch,omitempty"`
	Version   string `json:"version,omitempty"`
	Name      string `json:"name,omitempty"`
}

// envelope is what a bucket holds: the licence whose data key sealed the record, and the sealed bytes.
type envelope struct {
	Licence string `json:"l"`
	Sealed  []byte `json:"c"`
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b32.EncodeToString(b)
}

// licenceKeyRE: HERD-<8 id characters>-<32 secret characters>, base32.
var licenceKeyRE = regexp.MustCompile(`^HERD-([A-Z2-7]{8})-([A-Z2-7]{32})$`)

// ParseLicenceKey splits a licence key into its id and secret.
func ParseLicenceKey(key string) (id, secret string, err error) {
	m := licenceKeyRE.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(key)))
	if m == nil {
		return "", "", herd.Errorf(herd.EINVALID, "licence key: want HERD-XXXXXXXX-XXXX… as herdctl license create printed it")
	}
	return m[1], m[2], nil
}

// CreateLicence makes a licence with seats seats and returns it with its
// key, which is shown once: the cloud keeps only a keyed hash of its secret.
func (s *Service) CreateLicence(ctx context.Context, seats int, contact, name string) (Licence, string, error) {
	if seats < 1 || seats > MaxSeats {
		return Licence{}, "", herd.Errorf(herd.EINVALID, "seats: %d: want 1 to %d", seats, MaxSeats)
	}
	if err := checkEmail(contact); err != nil {
		return Licence{}, "", err
	}
	if err := checkText("name", name, maxName); err != nil {
		return Licence{}, "", err
	}
	for range casAttempts {
		id, secret := randomToken(5), randomToken(20)
		mac, err := s.Vault.MAC("licence-secret", []byte(id+secret))
		if err != nil {
			return Licence{}, "", err
		}
		l := Licence{ID: id, Secret: mac, Seats: seats, Created: s.now().UTC(), Contact: contact, Name: name}
		wrapped, key, err := s.Vault.NewDataKey(keyAD(id))
		if err != nil {
			return Licence{}, "", err
		}
		if _, err := s.Stores.Keys.Create(ctx, id, wrapped); err != nil {
			if herd.ErrorCode(err) == herd.ECONFLICT {
				continue // an id drawn twice
			}
			return Licence{}, "", err
		}
		s.cacheKey(id, key)
		b, err := s.seal(id, "licence/"+id, l)
		if err != nil {
			return Licence{}, "", err
		}
		if _, err := s.Stores.Licences.Create(ctx, id, b); err != nil {
			return Licence{}, "", err
		}
		return l, "HERD-" + id + "-" + secret, nil
	}
	return Licence{}, "", errors.New("licence: no free id after many attempts")
}

// Licence returns a licence and its revision.
func (s *Service) Licence(ctx context.Context, id string) (Licence, uint64, error) {
	var l Licence
	rev, err := s.load(ctx, s.Stores.Licences, id, "licence/"+id, &l)
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		return l, 0, herd.Errorf(herd.ENOTFOUND, "licence %s: no such licence", id)
	}
	return l, rev, err
}

// Device returns a device record and its revision.
func (s *Service) Device(ctx context.Context, id string) (Device, uint64, error) {
	var d Device
	key, err := s.deviceKey(id)
	if err != nil {
		return d, 0, err
	}
	rev, err := s.load(ctx, s.Stores.Devices, key, "device/"+id, &d)
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		return d, 0, herd.Errorf(herd.ENOTFOUND, "device %s: no such device", id)
	}
	return d, rev, err
}

// EnrollRequest is what an agent sends to enroll.
type EnrollRequest struct {
	LicenceKey string `json:"license"`
	CSR        string `json:"csr"`      // PEM certificate request of the device's new key
	Hardware   string `json:"hardware"` // SHA-256 (hex) of the machine's hardware identifiers
	Device     string `json:"device,omitempty"`
	OS         string `json:"os,omitempty"`
	Arch       string `json:"arch,omitempty"`
	Version    string `json:"version,omitempty"`
	Name       string `json:"name,omitempty"`
	// Presented is the device whose current certificate the request came
	// with (a renewal); set by the server, never read from the body.
	Presented string `json:"-"`
}

// Enrollment is the answer: the device's id and certificate.
type Enrollment struct {
	Device      string    `json:"device"`
	Licence     string    `json:"license"`
	Certificate string    `json:"certificate"` // PEM
	CA          string    `json:"ca"`          // PEM
	NotAfter    time.Time `json:"not_after"`
	Rebound     bool      `json:"rebound"` // the machine held a seat already: it was bound again, no new seat taken
	Renewed     bool      `json:"renewed"` // the device renewed its own certificate (it keeps its id)
}

var hexRE = regexp.MustCompile(`^[0-9a-f]+$`)

// validate checks an enrollment request and names the first bad field.
func (r *EnrollRequest) validate() (*x509.CertificateRequest, error) {
	bad := func(field, why string) error {
		return &herd.Error{Code: herd.EINVALID, Message: "enrollment: " + field + ": " + why,
			Problems: []herd.Problem{{Index: -1, Field: field, Message: why}}}
	}
	if len(r.CSR) > maxCSR {
		return nil, bad("csr", fmt.Sprintf("longer than %d bytes", maxCSR))
	}
	csr, err := pki.ParseCertificateRequestPEM([]byte(r.CSR))
	if err != nil {
		return nil, bad("csr", err.Error())
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, bad("csr", "signature does not match the key")
	}
	if err := pki.CheckKey(csr.PublicKey); err != nil {
		return nil, bad("csr", err.Error())
	}
	if len(r.Hardware) != 64 || !hexRE.MatchString(r.Hardware) {
		return nil, bad("hardware", "want the 64 lower-case hex digits of a SHA-256")
	}
	if r.Device != "" && (len(r.Device) != 32 || !hexRE.MatchString(r.Device)) {
		return nil, bad("device", "want 32 lower-case hex digits")
	}
	for _, f := range []struct{ name, v string }{{"os", r.OS}, {"arch", r.Arch}, {"version", r.Version}} {
		if err := checkText(f.name, f.v, maxFact); err != nil {
			return nil, err
		}
	}
	if err := checkText("name", r.Name, maxName); err != nil {
		return nil, err
	}
	return csr, nil
}

// Enroll checks the licence key, binds the machine to a seat and issues a
// device certificate. A machine whose hardware fingerprint is bound to a
// seat of this licence already takes that seat again instead of a new one:
// with the current certificate of the device holding it (a renewal), as
// that same device; without (a reinstall), as a new device that replaces
// the old one (whose certificate is then refused): knowing a machine's
// fingerprint and the licence key gives no access to another device's
// data. A new machine over the seat limit is refused (ECONFLICT).
func (s *Service) Enroll(ctx context.Context, r EnrollRequest) (Enrollment, error) {
	if s.CA == nil {
		return Enrollment{}, herd.Errorf(herd.EUNAVAILABLE, "enrollment needs the cloud's CA: this cloud serves plain HTTP (insecure_http)")
	}
	csr, err := r.validate()
	if err != nil {
		return Enrollment{}, err
	}
	id, secret, err := ParseLicenceKey(r.LicenceKey)
	if err != nil {
		return Enrollment{}, err
	}
	lic, _, err := s.Licence(ctx, id)
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		return Enrollment{}, herd.Errorf(herd.EUNAUTHORIZED, "licence key not valid")
	}
	if err != nil {
		return Enrollment{}, err
	}
	mac, err := s.Vault.MAC("licence-secret", []byte(id+secret))
	if err != nil {
		return Enrollment{}, err
	}
	if subtle.ConstantTimeCompare([]byte(mac), []byte(lic.Secret)) != 1 {
		return Enrollment{}, herd.Errorf(herd.EUNAUTHORIZED, "licence key not valid")
	}
	binding, err := s.Vault.MAC("hardware-binding", []byte(id+":"+r.Hardware))
	if err != nil {
		return Enrollment{}, err
	}
	// Once checked, the writes run to their end even if the client goes:
	// a half-done enrollment would hold a seat or hide a device.
	wctx := context.WithoutCancel(ctx)
	for range casAttempts {
		dev, rebound, err := s.seat(wctx, id, binding, r)
		if err == errAgain {
			continue
		}
		if err != nil {
			return Enrollment{}, err
		}
		cert, err := s.CA.SignDevice(csr, dev, s.now(), pki.DeviceValidity)
		if err != nil {
			return Enrollment{}, herd.Errorf(herd.EINVALID, "enrollment: csr: %v", err)
		}
		if err := s.setCertificate(wctx, dev, cert, r); err != nil {
			return Enrollment{}, err
		}
		return Enrollment{Device: dev, Licence: id, Certificate: string(pki.PEM(cert)), CA: string(s.CA.CertPEM),
			NotAfter: cert.NotAfter.UTC(), Rebound: rebound, Renewed: rebound && dev == r.Presented}, nil
	}
	return Enrollment{}, herd.Errorf(herd.EUNAVAILABLE, "enrollment: too many concurrent changes to licence %s; try again", id)
}

// errAgain: the state changed under an enrollment; look again.
var errAgain = errors.New("again")

type bindingRecord struct {
	Device string `json:"device"`
}

// seat returns the device that is to hold the machine's seat, and whether
// the machine held one already.
func (s *Service) seat(ctx context.Context, licence, binding string, r EnrollRequest) (string, bool, error) {
	var b bindingRecord
	brev, err := s.load(ctx, s.Stores.Bindings, binding, "binding/"+binding, &b)
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		return s.newSeat(ctx, licence, binding, r)
	}
	if err != nil {
		return "", false, err
	}
	old, _, err := s.Device(ctx, b.Device)
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		// A binding whose device is gone (erased meanwhile): drop it.
		if err := s.Stores.Bindings.Delete(ctx, binding); err != nil {
			return "", false, err
		}
		return "", false, errAgain
	}
	if err != nil {
		return "", false, err
	}
	if r.Presented == old.ID && old.Revoked.IsZero() {
		return old.ID, true, nil // a renewal by the device itself
	}
	// A reinstall: a new device takes over the seat, the old one is retired.
	dev, err := s.freshDeviceID(ctx, r.Device)
	if err != nil {
		return "", false, err
	}
	if err := s.createDevice(ctx, licence, binding, dev, r); err != nil {
		return "", false, err
	}
	sb, err := s.seal(licence, "binding/"+binding, bindingRecord{Device: dev})
	if err != nil {
		return "", false, err
	}
	if _, err := s.Stores.Bindings.Update(ctx, binding, sb, brev); err != nil {
		// Another enrollment of this machine won: undo, look again.
		if uerr := s.eraseNewDevice(ctx, licence, dev); uerr != nil {
			return "", false, uerr
		}
		if herd.ErrorCode(err) == herd.ECONFLICT {
			return "", false, errAgain
		}
		return "", false, err
	}
	if err := s.retire(ctx, old.ID, dev); err != nil {
		return "", false, err
	}
	return dev, true, nil
}

// newSeat takes a new seat of the licence for the machine: the seat
// counter first (compare-and-set, so that limits hold on any replica),
// then the device's records, the hardware binding last.
func (s *Service) newSeat(ctx context.Context, licence, binding string, r EnrollRequest) (string, bool, error) {
	dev, err := s.freshDeviceID(ctx, r.Device)
	if err != nil {
		return "", false, err
	}
	taken := false
	for range casAttempts {
		lic, rev, err := s.Licence(ctx, licence)
		if err != nil {
			return "", false, err
		}
		if lic.Used >= lic.Seats {
			return "", false, herd.Errorf(herd.ECONFLICT, "licence %s: all %d seats are taken; revoke a device (herdctl device revoke) or add seats", licence, lic.Seats)
		}
		lic.Used++
		sealed, err := s.seal(licence, "licence/"+licence, lic)
		if err != nil {
			return "", false, err
		}
		if _, err := s.Stores.Licences.Update(ctx, licence, sealed, rev); herd.ErrorCode(err) == herd.ECONFLICT {
			continue
		} else if err != nil {
			return "", false, err
		}
		taken = true
		break
	}
	if !taken {
		return "", false, herd.Errorf(herd.EUNAVAILABLE, "licence %s: too many concurrent changes; try again", licence)
	}
	undo := func(cause error) (string, bool, error) {
		if err := s.eraseNewDevice(ctx, licence, dev); err != nil {
			return "", false, err
		}
		if err := s.releaseSeat(ctx, licence); err != nil {
			return "", false, err
		}
		if herd.ErrorCode(cause) == herd.ECONFLICT {
			return "", false, errAgain // the same machine enrolled at the same moment and won
		}
		return "", false, cause
	}
	if err := s.createDevice(ctx, licence, binding, dev, r); err != nil {
		return undo(err)
	}
	sb, err := s.seal(licence, "binding/"+binding, bindingRecord{Device: dev})
	if err != nil {
		return undo(err)
	}
	if _, err := s.Stores.Bindings.Create(ctx, binding, sb); err != nil {
		return undo(err)
	}
	return dev, false, nil
}

// freshDeviceID returns the agent's proposed id if no device has it, else
// a new random one.
func (s *Service) freshDeviceID(ctx context.Context, proposed string) (string, error) {
	if proposed != "" {
		_, _, err := s.Device(ctx, proposed)
		if herd.ErrorCode(err) == herd.ENOTFOUND {
			return proposed, nil
		}
		if err != nil {
			return "", err
		}
	}
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	return hex.EncodeToString(raw), nil
}

// createDevice writes a new device's record and its entry in the
// licence's device list.
func (s *Service) createDevice(ctx context.Context, licence, binding, dev string, r EnrollRequest) error {
	now := s.now().UTC()
	d := Device{ID: dev, Licence: licence, Binding: binding, Enrolled: now, OS: r.OS, Arch: r.Arch, Version: r.Version, Name: r.Name}
	dk, err := s.deviceKey(dev)
	if err != nil {
		return err
	}
	db, err := s.seal(licence, "device/"+dev, d)
	if err != nil {
		return err
	}
	if _, err := s.Stores.Devices.Create(ctx, dk, db); err != nil {
		return err
	}
	sk := licence + "." + dk
	seat, err := s.seal(licence, "seat/"+sk, bindingRecord{Device: dev})
	if err != nil {
		return err
	}
	_, err = s.Stores.Seats.Create(ctx, sk, seat)
	return err
}

// eraseNewDevice removes what createDevice wrote.
func (s *Service) eraseNewDevice(ctx context.Context, licence, dev string) error {
	dk, err := s.deviceKey(dev)
	if err != nil {
		return err
	}
	if err := s.Stores.Seats.Delete(ctx, licence+"."+dk); err != nil {
		return err
	}
	return s.Stores.Devices.Delete(ctx, dk)
}

// retire marks a device replaced by a re-enrollment of its machine: its
// certificate is refused, its seat went to the new device.
func (s *Service) retire(ctx context.Context, dev, by string) error {
	for range casAttempts {
		d, rev, err := s.Device(ctx, dev)
		if err != nil {
			return err
		}
		if d.Revoked.IsZero() {
			d.Revoked = s.now().UTC()
		}
		d.ReplacedBy, d.SeatFreed, d.Binding = by, true, ""
		sealed, err := s.seal(d.Licence, "device/"+dev, d)
		if err != nil {
			return err
		}
		if _, err := s.Stores.Devices.Update(ctx, s.mustDeviceKey(dev), sealed, rev); herd.ErrorCode(err) == herd.ECONFLICT {
			continue
		} else if err != nil {
			return err
		}
		s.forget(dev, d.Serial)
		return nil
	}
	return herd.Errorf(herd.EUNAVAILABLE, "device %s: too many concurrent changes; try again", dev)
}

// releaseSeat gives a seat of the licence back.
func (s *Service) releaseSeat(ctx context.Context, licence string) error {
	for range casAttempts {
		lic, rev, err := s.Licence(ctx, licence)
		if err != nil {
			return err
		}
		if lic.Used > 0 {
			lic.Used--
		}
		sealed, err := s.seal(licence, "licence/"+licence, lic)
		if err != nil {
			return err
		}
		if _, err := s.Stores.Licences.Update(ctx, licence, sealed, rev); herd.ErrorCode(err) != herd.ECONFLICT {
			return err
		}
	}
	return herd.Errorf(herd.EUNAVAILABLE, "licence %s: too many concurrent changes; try again", licence)
}

// LicenceDevices returns the devices listed under a licence, revoked and
// replaced ones included.
func (s *Service) LicenceDevices(ctx context.Context, licence string) ([]Device, error) {
	keys, err := s.Stores.Seats.KeysWithPrefix(ctx, licence+".")
	if err != nil {
		return nil, err
	}
	out := make([]Device, 0, len(keys))
	for _, k := range keys {
		var seat bindingRecord
		if _, err := s.load(ctx, s.Stores.Seats, k, "seat/"+k, &seat); herd.ErrorCode(err) == herd.ENOTFOUND {
			continue // released meanwhile
		} else if err != nil {
			return nil, err
		}
		d, _, err := s.Device(ctx, seat.Device)
		if herd.ErrorCode(err) == herd.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Device) int { return a.Enrolled.Compare(b.Enrolled) })
	return out, nil
}

// setCertificate records the device's new certificate: from now on only it
// authenticates the device.
func (s *Service) setCertificate(ctx context.Context, dev string, cert *x509.Certificate, r EnrollRequest) error {
	for range casAttempts {
		d, rev, err := s.Device(ctx, dev)
		if err != nil {
			return err
		}
		if !d.Revoked.IsZero() {
			return herd.Errorf(herd.EUNAUTHORIZED, "device %s was revoked", dev)
		}
		old := d.Serial
		d.Serial, d.NotAfter, d.Renewed = pki.Serial(cert), cert.NotAfter.UTC(), s.now().UTC()
		if r.OS != "" {
			d.OS, d.Arch, d.Version = r.OS, r.Arch, r.Version
		}
		if r.Name != "" {
			d.Name = r.Name
		}
		sealed, err := s.seal(d.Licence, "device/"+dev, d)
		if err != nil {
			return err
		}
		if _, err := s.Stores.Devices.Update(ctx, s.mustDeviceKey(dev), sealed, rev); herd.ErrorCode(err) == herd.ECONFLICT {
			continue
		} else if err != nil {
			return err
		}
		s.forget(dev, old)
		return nil
	}
	return herd.Errorf(herd.EUNAVAILABLE, "device %s: too many concurrent changes; try again", dev)
}

// Revoke revokes a device: its certificate is refused from now on (on
// other replicas within 10 s), its hardware binding is removed and its
// seat freed, so the machine must enroll again to take a seat. It may be
// called again to finish a revocation that failed half-way; the seat is
// freed once.
func (s *Service) Revoke(ctx context.Context, dev string) (Device, error) {
	ctx = context.WithoutCancel(ctx)
	for range casAttempts {
		d, rev, err := s.Device(ctx, dev)
		if err != nil {
			return d, err
		}
		if d.Revoked.IsZero() {
			d.Revoked = s.now().UTC()
		}
		// Claim the freeing of the seat in the same write: of two
		// revocations at once, one frees it.
		free := !d.SeatFreed
		binding := d.Binding
		d.SeatFreed, d.Binding = true, ""
		sealed, err := s.seal(d.Licence, "device/"+dev, d)
		if err != nil {
			return d, err
		}
		if _, err := s.Stores.Devices.Update(ctx, s.mustDeviceKey(dev), sealed, rev); herd.ErrorCode(err) == herd.ECONFLICT {
			continue
		} else if err != nil {
			return d, err
		}
		s.forget(dev, d.Serial)
		if binding != "" {
			var b bindingRecord
			if _, err := s.load(ctx, s.Stores.Bindings, binding, "binding/"+binding, &b); err == nil && b.Device == dev {
				if err := s.Stores.Bindings.Delete(ctx, binding); err != nil {
					return d, err
				}
			}
		}
		if free {
			// The device stays listed under its licence, revoked.
			return d, s.releaseSeat(ctx, d.Licence)
		}
		return d, nil
	}
	return Device{}, herd.Errorf(herd.EUNAVAILABLE, "device %s: too many concurrent changes; try again", dev)
}

// Authenticate returns the device a verified client certificate belongs
// to: the certificate must be the device's current one, and the device not
// revoked. Answers are remembered for 10 s.
func (s *Service) Authenticate(ctx context.Context, cert *x509.Certificate) (string, error) {
	serial, dev := pki.Serial(cert), cert.Subject.CommonName
	now := s.now()
	s.mu.Lock()
	if e, ok := s.auths[serial]; ok && e.device == dev && now.Before(e.expires) {
		s.mu.Unlock()
		return dev, nil
	}
	s.mu.Unlock()
	d, _, err := s.Device(ctx, dev)
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		return "", herd.Errorf(herd.EUNAUTHORIZED, "device certificate: unknown device")
	}
	if err != nil {
		return "", err
	}
	switch {
	case d.ReplacedBy != "":
		return "", herd.Errorf(herd.EUNAUTHORIZED, "device certificate: the device was replaced by a new enrollment of its machine")
	case !d.Revoked.IsZero():
		return "", herd.Errorf(herd.EUNAUTHORIZED, "device certificate: the device was revoked")
	case d.Serial != serial:
		return "", herd.Errorf(herd.EUNAUTHORIZED, "device certificate: replaced by a newer enrollment of this device")
	}
	s.mu.Lock()
	if s.auths == nil || len(s.auths) >= authCacheLimit {
		s.auths = map[string]authEntry{}
	}
	s.auths[serial] = authEntry{device: dev, expires: now.Add(authCacheTTL)}
	s.mu.Unlock()
	return dev, nil
}

// forget drops what Authenticate remembers of a device's certificate.
func (s *Service) forget(dev, serial string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.auths[serial]; ok && e.device == dev {
		delete(s.auths, serial)
	}
}

// deviceKey returns the key of a device's record: a keyed hash of its id,
// so that the id itself is never written in plain text, not even as a key.
func (s *Service) deviceKey(id string) (string, error) {
	return s.Vault.MAC("device-id", []byte(id))
}

// mustDeviceKey is deviceKey for an id whose key was computed before.
func (s *Service) mustDeviceKey(id string) string {
	k, _ := s.deviceKey(id)
	return k
}

// keyAD binds a wrapped data key to its licence.
func keyAD(licence string) []byte { return []byte("datakey/" + licence) }

func (s *Service) cacheKey(licence string, k tink.AEAD) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil || len(s.keys) >= authCacheLimit {
		s.keys = map[string]tink.AEAD{}
	}
	s.keys[licence] = k
}

// dataKey returns a licence's data key.
func (s *Service) dataKey(ctx context.Context, licence string) (tink.AEAD, error) {
	s.mu.Lock()
	k, ok := s.keys[licence]
	s.mu.Unlock()
	if ok {
		return k, nil
	}
	wrapped, _, err := s.Stores.Keys.Get(ctx, licence)
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		return nil, herd.Errorf(herd.ENOTFOUND, "licence %s: its data key is gone (deleted)", licence)
	}
	if err != nil {
		return nil, err
	}
	k, err = s.Vault.DataKey(wrapped, keyAD(licence))
	if err != nil {
		return nil, err
	}
	s.cacheKey(licence, k)
	return k, nil
}

// seal encodes v and encrypts it under the licence's data key, bound to ad.
func (s *Service) seal(licence, ad string, v any) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	k, err := s.dataKey(context.Background(), licence)
	if err != nil {
		return nil, err
	}
	c, err := k.Encrypt(plain, []byte(ad))
	if err != nil {
		return nil, err
	}
	return json.Marshal(envelope{Licence: licence, Sealed: c})
}

// load reads and opens a sealed record.
func (s *Service) load(ctx context.Context, kv KV, key, ad string, v any) (uint64, error) {
	b, rev, err := kv.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return 0, fmt.Errorf("%s: not a sealed record: %w", ad, err)
	}
	k, err := s.dataKey(ctx, e.Licence)
	if err != nil {
		return 0, err
	}
	plain, err := k.Decrypt(e.Sealed, []byte(ad))
	if err != nil {
		return 0, fmt.Errorf("%s: cannot be opened: %w", ad, err)
	}
	return rev, json.Unmarshal(plain, v)
}

func checkText(field, v string, max int) error {
	if len(v) > max || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return &herd.Error{Code: herd.EINVALID, Message: fmt.Sprintf("%s: want printable text of at most %d bytes", field, max),
			Problems: []herd.Problem{{Index: -1, Field: field, Message: "not printable text, or too long"}}}
	}
	return nil
}

func checkEmail(v string) error {
	if v == "" {
		return nil
	}
	at := strings.LastIndexByte(v, '@')
	if len(v) > maxEmail || at < 1 || at == len(v)-1 || strings.ContainsAny(v, " \t\r\n<>") || checkText("contact", v, maxEmail) != nil {
		return &herd.Error{Code: herd.EINVALID, Message: "contact: want an e-mail address",
			Problems: []herd.Problem{{Index: -1, Field: "contact", Message: "not an e-mail address"}}}
	}
	return nil
}
