package httpapi

import (
	"context"
	"crypto/x509"
	"net/http"
	"regexp"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/identity"
)

// IdentityService runs licences, enrollment and device authentication
// (package identity).
type IdentityService interface {
	Enroll(ctx context.Context, r identity.EnrollRequest) (identity.Enrollment, error)
	Authenticate(ctx context.Context, cert *x509.Certificate) (string, error)
	CreateLicence(ctx context.Context, seats int, contact, name string) (identity.Licence, string, error)
	Licence(ctx context.Context, id string) (identity.Licence, uint64, error)
	Device(ctx context.Context, id string) (identity.Device, uint64, error)
	LicenceDevices(ctx context.Context, licence string) ([]identity.Device, error)
	Revoke(ctx context.Context, id string) (identity.Device, error)
}

// Bounds of identity request bodies.
const (
	maxEnrollBody  = 16 << 10
	maxLicenceBody = 4 << 10
)

type deviceKey struct{}

// DeviceOf returns the enrolled device a request authenticated as, if any.
func DeviceOf(r *http.Request) (string, bool) {
	d, ok := r.Context().Value(deviceKey{}).(string)
	return d, ok
}

// device makes a route need an enrolled device's certificate when
// RequireDevices is set. The TLS handshake has already refused
// certificates from another CA and expired ones; this refuses revoked and
// superseded ones.
func (s *Server) device(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.RequireDevices {
			h(w, r)
			return
		}
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			s.writeError(w, r, herd.Errorf(herd.EUNAUTHORIZED, "device certificate required: enroll this device first (herd enroll)"))
			return
		}
		if s.Identity == nil {
			s.writeError(w, r, herd.Errorf(herd.EUNAVAILABLE, "identity service not configured"))
			return
		}
		dev, err := s.Identity.Authenticate(r.Context(), r.TLS.VerifiedChains[0][0])
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), deviceKey{}, dev)))
	}
}

// sameDevice refuses a request whose body names another device than the
// one its certificate authenticated.
func sameDevice(r *http.Request, claimed string) error {
	if dev, ok := DeviceOf(r); ok && dev != claimed {
		return &herd.Error{Code: herd.EFORBIDDEN, Message: "device: the request names another device than its certificate",
			Problems: []herd.Problem{{Index: -1, Field: "device", Message: "not the device of the client certificate"}}}
	}
	return nil
}

func (s *Server) identity(w http.ResponseWriter, r *http.Request) bool {
	if s.Identity == nil {
		s.writeError(w, r, herd.Errorf(herd.EUNAVAILABLE, "identity service not configured"))
		return false
	}
	return true
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	if !s.identity(w, r) {
		return
	}
	if r.TLS == nil && s.RequireDevices {
		s.writeError(w, r, herd.Errorf(herd.EINVALID, "enrollment needs TLS"))
		return
	}
	var req identity.EnrollRequest
	if err := decodeJSON(http.MaxBytesReader(w, r.Body, maxEnrollBody), &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.Identity.Enroll(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("device enrolled", "license", res.Licence, "rebound", res.Rebound)
	writeJSON(w, http.StatusOK, res)
}

// LicenceRequest creates a licence.
type LicenceRequest struct {
	Seats   int    `json:"seats"`
	Contact string `json:"contact,omitempty"`
	Name    string `json:"name,omitempty"`
}

// LicenceResponse describes a licence; Key only when it was just created.
type LicenceResponse struct {
	ID      string            `json:"id"`
	Key     string            `json:"key,omitempty"`
	Seats   int               `json:"seats"`
	Used    int               `json:"used"`
	Contact string            `json:"contact,omitempty"`
	Name    string            `json:"name,omitempty"`
	Devices []identity.Device `json:"devices,omitempty"`
}

func (s *Server) handleCreateLicence(w http.ResponseWriter, r *http.Request) {
	if !s.identity(w, r) {
		return
	}
	var req LicenceRequest
	if err := decodeJSON(http.MaxBytesReader(w, r.Body, maxLicenceBody), &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	l, key, err := s.Identity.CreateLicence(r.Context(), req.Seats, req.Contact, req.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("license created", "license", l.ID, "seats", l.Seats)
	writeJSON(w, http.StatusOK, LicenceResponse{ID: l.ID, Key: key, Seats: l.Seats, Contact: l.Contact, Name: l.Name})
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

func (s *Server) handleGetLicence(w http.ResponseWriter, r *http.Request) {
	if !s.identity(w, r) {
		return
	}
	id := r.PathValue("id")
	if !idRE.MatchString(id) {
		s.writeError(w, r, herd.Errorf(herd.EINVALID, "license id %q: not valid", id))
		return
	}
	l, _, err := s.Identity.Licence(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := LicenceResponse{ID: l.ID, Seats: l.Seats, Used: l.Used, Contact: l.Contact, Name: l.Name}
	devs, err := s.Identity.LicenceDevices(r.Context(), l.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, d := range devs {
		d.Binding = ""
		resp.Devices = append(resp.Devices, d)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.identity(w, r) {
		return
	}
	id := r.PathValue("id")
	if !idRE.MatchString(id) {
		s.writeError(w, r, herd.Errorf(herd.EINVALID, "device id %q: not valid", id))
		return
	}
	d, err := s.Identity.Revoke(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("device revoked", "license", d.Licence)
	d.Binding = ""
	writeJSON(w, http.StatusOK, d)
}
