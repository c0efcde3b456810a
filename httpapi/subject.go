package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/audit"
	"github.com/herdsec/herd/dsr"
)

// DataSubjects answers access and deletion requests (package dsr).
type DataSubjects interface {
	ExportPerson(ctx context.Context, licence string) (dsr.PersonExport, error)
	DeletePerson(ctx context.Context, licence string) (dsr.PersonDeletion, error)
	ExportDevice(ctx context.Context, device string) (dsr.DeviceExport, error)
	DeleteDevice(ctx context.Context, device string) (dsr.DeviceDeletion, error)
}

func (s *Server) subjects(w http.ResponseWriter, r *http.Request) bool {
	if s.Subjects == nil {
		s.writeError(w, r, herd.Errorf(herd.EUNAVAILABLE, "data subject requests not configured"))
		return false
	}
	return true
}

// pathID returns the {id} path value, checked; what names it in the error.
func (s *Server) pathID(w http.ResponseWriter, r *http.Request, what string) (string, bool) {
	id := r.PathValue("id")
	if !idRE.MatchString(id) {
		s.writeError(w, r, herd.Errorf(herd.EINVALID, "%s id %q: not valid", what, id))
		return "", false
	}
	return id, true
}

func (s *Server) handleExportPerson(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r, "license")
	if !ok || !s.subjects(w, r) {
		return
	}
	ex, err := s.Subjects.ExportPerson(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ex)
}

func (s *Server) handleDeletePerson(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r, "license")
	if !ok || !s.subjects(w, r) {
		return
	}
	res, err := s.Subjects.DeletePerson(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("person erased", "license", id, "devices", len(res.Devices), "verified", res.Verified)
	writeJSON(w, http.StatusOK, res)
}

// ownDevice returns the device a my-data request's certificate names, once
// the request is in the audit log (as done by "device": the log keeps no
// device id).
func (s *Server) ownDevice(w http.ResponseWriter, r *http.Request) (string, bool) {
	dev, ok := DeviceOf(r)
	if !ok {
		s.writeError(w, r, herd.Errorf(herd.EUNAUTHORIZED, "my data: an enrolled device's certificate is needed (herd enroll)"))
		return "", false
	}
	if !s.subjects(w, r) {
		return "", false
	}
	if s.Audit != nil {
		e := audit.Entry{Time: time.Now().UTC(), Operator: "device", Action: r.Method + " /v1/my-data", Target: r.URL.Path}
		if _, err := s.Audit.Append(r.Context(), e); err != nil {
			s.writeError(w, r, err)
			return "", false
		}
	}
	return dev, true
}

func (s *Server) handleExportMyData(w http.ResponseWriter, r *http.Request) {
	dev, ok := s.ownDevice(w, r)
	if !ok {
		return
	}
	ex, err := s.Subjects.ExportDevice(r.Context(), dev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ex)
}

func (s *Server) handleDeleteMyData(w http.ResponseWriter, r *http.Request) {
	dev, ok := s.ownDevice(w, r)
	if !ok {
		return
	}
	res, err := s.Subjects.DeleteDevice(r.Context(), dev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("device erased at its own request", "verified", res.Verified)
	writeJSON(w, http.StatusOK, res)
}
