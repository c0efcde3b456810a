// Package dsr answers data subjects' requests: access (an export of
// everything kept about a person, or about one device) and deletion (of
// all of it, confirmed). A person is the holder of a licence: their
// identity records (the licence, with their e-mail and name), their
// devices, each device's consent history, the telemetry stored under the
// device's pseudonyms and the suspicious-file samples it offered.
package dsr

import (
	"context"
	"time"

	"github.com/herdsec/herd/identity"
	"github.com/herdsec/herd/ingest"
)

// Service combines the identity side and the telemetry side.
type Service struct {
	Identity *identity.Service
	Ingest   *ingest.Pipeline
	Stores   ingest.SubjectStores
}

// DeviceExport is everything kept about one device.
type DeviceExport struct {
	Device identity.Device   `json:"device"`
	Data   ingest.DeviceData `json:"data"`
}

// PersonExport is everything kept about a licence's holder.
type PersonExport struct {
	Generated time.Time        `json:"generated"`
	Licence   identity.Licence `json:"license"`
	Devices   []DeviceExport   `json:"devices"`
}

// PersonDeletion confirms a person's erasure.
type PersonDeletion struct {
	Licence  string                          `json:"license"`
	Identity identity.IdentityErasure        `json:"identity"`
	Devices  map[string]ingest.DeviceErasure `json:"devices"`
	// Verified: nothing was found again after erasing, and the licence's
	// data key is gone.
	Verified bool `json:"verified"`
}

// DeviceDeletion confirms a device's erasure.
type DeviceDeletion struct {
	Identity  identity.IdentityErasure `json:"identity"`
	Telemetry ingest.DeviceErasure     `json:"telemetry"`
	Verified  bool                     `json:"verified"`
}

// ExportPerson returns everything kept about the holder of licence.
func (s *Service) ExportPerson(ctx context.Context, licence string) (PersonExport, error) {
	ex, err := s.Identity.ExportLicence(ctx, licence)
	if err != nil {
		return PersonExport{}, err
	}
	out := PersonExport{Generated: time.Now().UTC(), Licence: ex.Licence, Devices: []DeviceExport{}}
	for _, d := range ex.Devices {
		data, err := s.Ingest.Export(ctx, s.Stores, d.ID)
		if err != nil {
			return PersonExport{}, err
		}
		out.Devices = append(out.Devices, DeviceExport{Device: d, Data: data})
	}
	return out, nil
}

// DeletePerson erases everything kept about the holder of licence: the
// telemetry side of each device first, then the identity side, the
// licence's data key last.
func (s *Service) DeletePerson(ctx context.Context, licence string) (PersonDeletion, error) {
	out := PersonDeletion{Licence: licence, Devices: map[string]ingest.DeviceErasure{}}
	remaining := uint64(0)
	var err error
	out.Identity, err = s.Identity.DeleteLicence(ctx, licence, func(devices []string) error {
		// Revoke every device first: from then on their certificates are
		// refused (on other replicas within 10 s), and telemetry without
		// consent (erased next) is refused anyway.
		for _, d := range devices {
			if _, err := s.Identity.Revoke(ctx, d); err != nil {
				return err
			}
		}
		for _, d := range devices {
			e, err := s.Ingest.Erase(ctx, s.Stores, d)
			if err != nil {
				return err
			}
			out.Devices[d] = e
			remaining += e.Remaining
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	out.Verified = remaining == 0 && out.Identity.DataKeyErased && out.Identity.LicenceErased
	return out, nil
}

// ExportDevice returns everything kept about one device.
func (s *Service) ExportDevice(ctx context.Context, device string) (DeviceExport, error) {
	d, _, err := s.Identity.Device(ctx, device)
	if err != nil {
		return DeviceExport{}, err
	}
	d.Binding = ""
	data, err := s.Ingest.Export(ctx, s.Stores, device)
	if err != nil {
		return DeviceExport{}, err
	}
	return DeviceExport{Device: d, Data: data}, nil
}

// DeleteDevice erases everything kept about one device; its seat is
// freed and its certificate refused from then on.
func (s *Service) DeleteDevice(ctx context.Context, device string) (DeviceDeletion, error) {
	var out DeviceDeletion
	var err error
	if _, err := s.Identity.Revoke(ctx, device); err != nil {
		return out, err
	}
	if out.Telemetry, err = s.Ingest.Erase(ctx, s.Stores, device); err != nil {
		return out, err
	}
	if out.Identity, err = s.Identity.DeleteDevice(ctx, device); err != nil {
		return out, err
	}
	out.Verified = out.Telemetry.Remaining == 0
	return out, nil
}
