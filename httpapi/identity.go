package httpapi

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/audit"
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
	CreateOperator(ctx context.Context, name string, roles []string) (identity.Operator, string, error)
	Operators(ctx context.Context) ([]identity.Operator, error)
	RemoveOperator(ctx context.Context, name string) error
	AuthenticateOperator(ctx context.Context, token string) (identity.Operator, error)
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
	// A device renewing its certificate enrolls with its current one: it
	// keeps its id. Without one, a machine that enrolled before gets a new
	// device in place of the old.
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		if dev, err := s.Identity.Authenticate(r.Context(), r.TLS.VerifiedChains[0][0]); err == nil {
			req.Presented = dev
		}
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
	id, ok := s.pathID(w, r, "license")
	if !ok {
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
	id, ok := s.pathID(w, r, "device")
	if !ok {
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

// The roles of the admin routes (package identity defines them; admin may
// call every route).
var (
	analyst          = []string{identity.RoleAnalyst}
	support          = []string{identity.RoleSupport}
	privacy          = []string{identity.RolePrivacyOfficer}
	adminOnly        = []string{identity.RoleAdmin}
	analystOrSupport = []string{identity.RoleAnalyst, identity.RoleSupport}
	analystOrPrivacy = []string{identity.RoleAnalyst, identity.RolePrivacyOfficer}
	supportOrPrivacy = []string{identity.RoleSupport, identity.RolePrivacyOfficer}
)

// RolesOf returns the roles an admin route needs (for the API document).
func (rt Route) RolesOf() []string { return rt.roles }

// AuditLog keeps the hash-chained record of admin actions.
type AuditLog interface {
	Append(ctx context.Context, e audit.Entry) (audit.Entry, error)
	Entries(ctx context.Context) ([]audit.Entry, uint64, error)
	Verify(ctx context.Context) (audit.Report, error)
}

type operatorKey struct{}

// OperatorOf returns the operator an admin request authenticated as.
func OperatorOf(r *http.Request) (identity.Operator, bool) {
	o, ok := r.Context().Value(operatorKey{}).(identity.Operator)
	return o, ok
}

// admin makes a route need an operator's bearer token (the bootstrap token
// of DATA/admin.token is the operator "admin") holding one of roles, and
// writes the action to the audit log before it runs: an action that
// cannot be audited is not done.
func (s *Server) admin(route string, roles []string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		op, err := s.operator(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !op.May(roles...) {
			s.writeError(w, r, herd.Errorf(herd.EFORBIDDEN, "operator %s (roles %s) may not call %s: it needs one of the roles %s",
				op.Name, strings.Join(op.Roles, ", "), route, strings.Join(append(slices.Clone(roles), identity.RoleAdmin), ", ")))
			return
		}
		if s.Audit != nil {
			target := r.URL.Path
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			if _, err := s.Audit.Append(r.Context(), audit.Entry{Time: time.Now().UTC(), Operator: op.Name, Roles: op.Roles, Action: route, Target: target}); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		h(w, r.WithContext(context.WithValue(r.Context(), operatorKey{}, op)))
	}
}

// operator authenticates a request's bearer token.
func (s *Server) operator(r *http.Request) (identity.Operator, error) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return identity.Operator{}, herd.Errorf(herd.EUNAUTHORIZED, "admin API: missing or wrong bearer token")
	}
	if s.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.AdminToken)) == 1 {
		return identity.Operator{Name: identity.RoleAdmin, Roles: []string{identity.RoleAdmin}}, nil
	}
	if s.Identity == nil {
		return identity.Operator{}, herd.Errorf(herd.EUNAUTHORIZED, "admin API: missing or wrong bearer token")
	}
	return s.Identity.AuthenticateOperator(r.Context(), tok)
}

// OperatorRequest adds an operator.
type OperatorRequest struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// OperatorResponse is an operator; Token only when it was just created.
type OperatorResponse struct {
	Name    string    `json:"name"`
	Roles   []string  `json:"roles"`
	Created time.Time `json:"created"`
	Token   string    `json:"token,omitempty"`
}

// OperatorsResponse lists the operators.
type OperatorsResponse struct {
	Operators []OperatorResponse `json:"operators"`
}

func (s *Server) handleCreateOperator(w http.ResponseWriter, r *http.Request) {
	if !s.identity(w, r) {
		return
	}
	var req OperatorRequest
	if err := decodeJSON(http.MaxBytesReader(w, r.Body, maxLicenceBody), &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	o, tok, err := s.Identity.CreateOperator(r.Context(), req.Name, req.Roles)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, OperatorResponse{Name: o.Name, Roles: o.Roles, Created: o.Created, Token: tok})
}

func (s *Server) handleListOperators(w http.ResponseWriter, r *http.Request) {
	if !s.identity(w, r) {
		return
	}
	ops, err := s.Identity.Operators(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := OperatorsResponse{Operators: []OperatorResponse{}}
	for _, o := range ops {
		resp.Operators = append(resp.Operators, OperatorResponse{Name: o.Name, Roles: o.Roles, Created: o.Created})
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleRemoveOperator(w http.ResponseWriter, r *http.Request) {
	if !s.identity(w, r) {
		return
	}
	// The identity service checks the name (invalid: 400, unknown: 404).
	if err := s.Identity.RemoveOperator(r.Context(), r.PathValue("name")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"removed": r.PathValue("name")})
}

// AuditResponse is the audit log, newest last.
type AuditResponse struct {
	Entries []audit.Entry `json:"entries"`
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	if s.Audit == nil {
		s.writeError(w, r, herd.Errorf(herd.EUNAVAILABLE, "audit log not configured"))
		return
	}
	last := 100
	if v := r.URL.Query().Get("last"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			s.writeError(w, r, herd.Errorf(herd.EINVALID, "last: %q: want 1 to 100000", v))
			return
		}
		last = n
	}
	entries, _, err := s.Audit.Entries(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(entries) > last {
		entries = entries[len(entries)-last:]
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	writeJSON(w, http.StatusOK, AuditResponse{Entries: entries})
}

func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	if s.Audit == nil {
		s.writeError(w, r, herd.Errorf(herd.EUNAVAILABLE, "audit log not configured"))
		return
	}
	rep, err := s.Audit.Verify(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
