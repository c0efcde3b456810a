package identity

import (
	"context"

	"github.com/herdsec/herd"
)

// What the identity side keeps of a person (the holder of a licence) and
// of a device, for access and deletion requests.

// LicenceExport is everything the identity side keeps of a licence's holder.
type LicenceExport struct {
	Licence Licence  `json:"license"`
	Devices []Device `json:"devices"`
}

// ExportLicence returns the licence and its devices (their bindings and the
// licence's key hash left out: keyed hashes that mean nothing outside).
func (s *Service) ExportLicence(ctx context.Context, id string) (LicenceExport, error) {
	l, _, err := s.Licence(ctx, id)
	if err != nil {
		return LicenceExport{}, err
	}
	devs, err := s.LicenceDevices(ctx, id)
	if err != nil {
		return LicenceExport{}, err
	}
	l.Secret = ""
	for i := range devs {
		devs[i].Binding = ""
	}
	return LicenceExport{Licence: l, Devices: devs}, nil
}

// IdentityErasure reports what was erased on the identity side.
type IdentityErasure struct {
	Devices        []string `json:"devices"`          // the devices erased
	Records        int      `json:"records"`          // identity records erased
	DataKeyErased  bool     `json:"data_key_erased"`  // the licence's data key is gone: what is left of its records cannot be decrypted
	LicenceErased  bool     `json:"license_erased"`   // the licence itself
	CertsRefusedBy string   `json:"certs_refused_by"` // from when the devices' certificates are refused everywhere
}

// DeleteLicence erases a licence's holder: every device (record, hardware
// binding, seat), the licence record, and last its data key, securely
// erased, so that any copy of their sealed records left anywhere can no
// longer be decrypted (crypto-shredding). devices is called with the
// device ids first, to erase what the telemetry side keeps of them.
func (s *Service) DeleteLicence(ctx context.Context, id string, devices func([]string) error) (IdentityErasure, error) {
	var e IdentityErasure
	if _, _, err := s.Licence(ctx, id); err != nil {
		return e, err
	}
	devs, err := s.LicenceDevices(ctx, id)
	if err != nil {
		return e, err
	}
	for _, d := range devs {
		e.Devices = append(e.Devices, d.ID)
	}
	if e.Devices == nil {
		e.Devices = []string{}
	}
	if err := devices(e.Devices); err != nil {
		return e, err
	}
	for _, d := range devs {
		n, err := s.eraseDevice(ctx, d)
		e.Records += n
		if err != nil {
			return e, err
		}
	}
	if err := s.Stores.Licences.Delete(ctx, id); err != nil {
		return e, err
	}
	e.Records++
	e.LicenceErased = true
	if err := s.Stores.Keys.Delete(ctx, id); err != nil {
		return e, err
	}
	s.mu.Lock()
	delete(s.keys, id)
	s.mu.Unlock()
	if _, _, err := s.Stores.Keys.Get(ctx, id); herd.ErrorCode(err) != herd.ENOTFOUND {
		return e, herd.Errorf(herd.EINTERNAL, "licence %s: data key still readable after erasure", id)
	}
	e.DataKeyErased = true
	e.CertsRefusedBy = s.now().Add(authCacheTTL).UTC().Format("2006-01-02T15:04:05Z")
	return e, nil
}

// DeleteDevice erases one device: revoked first (its certificate refused,
// its seat freed once), then its record, hardware binding and seat entry.
func (s *Service) DeleteDevice(ctx context.Context, id string) (IdentityErasure, error) {
	d, err := s.Revoke(ctx, id)
	if err != nil {
		return IdentityErasure{}, err
	}
	n, err := s.eraseDevice(context.WithoutCancel(ctx), d)
	if err != nil {
		return IdentityErasure{Devices: []string{id}, Records: n}, err
	}
	return IdentityErasure{Devices: []string{id}, Records: n, CertsRefusedBy: s.now().Add(authCacheTTL).UTC().Format("2006-01-02T15:04:05Z")}, nil
}

// eraseDevice erases a device's records: seat entry, binding, record.
func (s *Service) eraseDevice(ctx context.Context, d Device) (int, error) {
	dk, err := s.deviceKey(d.ID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, del := range []struct {
		kv  KV
		key string
	}{{s.Stores.Seats, d.Licence + "." + dk}, {s.Stores.Bindings, d.Binding}, {s.Stores.Devices, dk}} {
		if del.key == "" || del.key == d.Licence+"." {
			continue
		}
		if err := del.kv.Delete(ctx, del.key); err != nil {
			return n, err
		}
		n++
	}
	s.forget(d.ID, d.Serial)
	return n, nil
}
