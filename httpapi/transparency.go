package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/identity"
	"github.com/herdsec/herd/transparency"
)

// The transparency register (package transparency): privacy officers
// register every request for user data, review it, decide on it and record
// what was disclosed; the half-yearly report is counted from the register.
// The admin middleware writes every call to the audit log before it runs,
// so every step of every request is audited under its operator.

// maxTransparencyBody bounds a register, decision or fulfilment body: the
// largest free text, JSON-escaped, and the other fields.
const maxTransparencyBody = 6*transparency.MaxDisclosed + 4096

// TransparencyService keeps the register. Each method that moves a request
// checks the move against the legal review (package transparency) and
// stores it by compare-and-set: ECONFLICT when the move is not allowed from
// the request's state (fulfil before approval, a second decision), also
// when another replica moved it first. ENOTFOUND: no such request.
type TransparencyService interface {
	// Register records a new request, received, as operator's step;
	// EINVALID names the bad field.
	Register(ctx context.Context, n transparency.New, operator string) (transparency.Request, error)
	// Requests lists every request, oldest received first.
	Requests(ctx context.Context) ([]transparency.Request, error)
	// Request returns one request with its history.
	Request(ctx context.Context, id string) (transparency.Request, error)
	// StartReview moves a received request into review.
	StartReview(ctx context.Context, id, operator string) (transparency.Request, error)
	// Decide approves or rejects a request in review, with reasons.
	Decide(ctx context.Context, id string, approve bool, reasons, operator string) (transparency.Request, error)
	// Fulfil records what was disclosed for an approved request.
	Fulfil(ctx context.Context, id, disclosed, operator string) (transparency.Request, error)
	// Report counts the requests received in a half-year.
	Report(ctx context.Context, p transparency.Period) (transparency.Report, error)
}

// TransparencyList is the register, as GET /v1/admin/transparency/requests answers.
type TransparencyList struct {
	Requests []transparency.Request `json:"requests"`
}

// DecisionRequest is a privacy officer's decision on a request in review.
type DecisionRequest struct {
	Decision string `json:"decision"` // approve or reject
	Reasons  string `json:"reasons"`
}

// FulfilRequest records what was disclosed for an approved request.
type FulfilRequest struct {
	Disclosed string `json:"disclosed"`
}

// DecodeRegisterRequest decodes a request to register (unknown fields
// refused); the fields are checked by transparency.Register.
func DecodeRegisterRequest(r io.Reader) (transparency.New, error) {
	var n transparency.New
	if err := decodeJSON(r, &n); err != nil {
		return transparency.New{}, err
	}
	return n, nil
}

func (s *Server) haveTransparency(w http.ResponseWriter, r *http.Request) bool {
	if s.Transparency == nil {
		s.writeError(w, r, herd.Errorf(herd.EUNAVAILABLE, "this cloud keeps no transparency register"))
		return false
	}
	return true
}

// transparencyRoutes are the register's admin routes; decisions are the
// privacy officer's alone (handleDecision also refuses an admin without
// that role).
func (s *Server) transparencyRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/v1/admin/transparency/requests", admin: true, roles: privacy, timed: true, handler: s.handleRegisterRequest},
		{Method: "GET", Path: "/v1/admin/transparency/requests", admin: true, roles: privacy, timed: true, handler: s.handleListRequests},
		{Method: "GET", Path: "/v1/admin/transparency/requests/{id}", admin: true, roles: privacy, timed: true, handler: s.handleGetRequest},
		{Method: "POST", Path: "/v1/admin/transparency/requests/{id}/review", admin: true, roles: privacy, timed: true, handler: s.handleStartReview},
		{Method: "POST", Path: "/v1/admin/transparency/requests/{id}/decision", admin: true, roles: privacy, timed: true, handler: s.handleDecision},
		{Method: "POST", Path: "/v1/admin/transparency/requests/{id}/fulfil", admin: true, roles: privacy, timed: true, handler: s.handleFulfil},
		{Method: "GET", Path: "/v1/admin/transparency/report", admin: true, roles: privacy, timed: true, handler: s.handleTransparencyReport},
	}
}

func operatorName(r *http.Request) string {
	op, _ := OperatorOf(r)
	return op.Name
}

func (s *Server) handleRegisterRequest(w http.ResponseWriter, r *http.Request) {
	if !s.haveTransparency(w, r) {
		return
	}
	n, err := DecodeRegisterRequest(http.MaxBytesReader(w, r.Body, maxTransparencyBody))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := s.Transparency.Register(r.Context(), n, operatorName(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("transparency request registered", "id", req.ID, "type", req.Type, "country", req.Country)
	writeJSON(w, http.StatusOK, req)
}

func (s *Server) handleListRequests(w http.ResponseWriter, r *http.Request) {
	if !s.haveTransparency(w, r) {
		return
	}
	reqs, err := s.Transparency.Requests(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, TransparencyList{Requests: reqs})
}

func (s *Server) handleGetRequest(w http.ResponseWriter, r *http.Request) {
	if !s.haveTransparency(w, r) {
		return
	}
	req, err := s.Transparency.Request(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, req)
}

func (s *Server) handleStartReview(w http.ResponseWriter, r *http.Request) {
	if !s.haveTransparency(w, r) {
		return
	}
	s.moved(w, r, "review started")(s.Transparency.StartReview(r.Context(), r.PathValue("id"), operatorName(r)))
}

func (s *Server) handleDecision(w http.ResponseWriter, r *http.Request) {
	if !s.haveTransparency(w, r) {
		return
	}
	// The legal review's decision is a privacy officer's: the admin role,
	// which may call every route, does not stand in for it.
	if op, _ := OperatorOf(r); !slices.Contains(op.Roles, identity.RolePrivacyOfficer) {
		s.writeError(w, r, herd.Errorf(herd.EFORBIDDEN, "operator %s (roles %s) may not decide on a request: only a privacy officer may", op.Name, strings.Join(op.Roles, ", ")))
		return
	}
	var req DecisionRequest
	if err := decodeJSON(http.MaxBytesReader(w, r.Body, maxTransparencyBody), &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	var approve bool
	switch req.Decision {
	case "approve":
		approve = true
	case "reject":
	default:
		s.writeError(w, r, herd.Errorf(herd.EINVALID, "decision %q: want approve or reject", req.Decision))
		return
	}
	s.moved(w, r, "decided")(s.Transparency.Decide(r.Context(), r.PathValue("id"), approve, req.Reasons, operatorName(r)))
}

func (s *Server) handleFulfil(w http.ResponseWriter, r *http.Request) {
	if !s.haveTransparency(w, r) {
		return
	}
	var req FulfilRequest
	if err := decodeJSON(http.MaxBytesReader(w, r.Body, maxTransparencyBody), &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.moved(w, r, "fulfilled")(s.Transparency.Fulfil(r.Context(), r.PathValue("id"), req.Disclosed, operatorName(r)))
}

// moved answers a state move.
func (s *Server) moved(w http.ResponseWriter, r *http.Request, what string) func(transparency.Request, error) {
	return func(req transparency.Request, err error) {
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.Logger.Info("transparency request "+what, "id", req.ID, "state", req.State, "operator", operatorName(r))
		writeJSON(w, http.StatusOK, req)
	}
}

func (s *Server) handleTransparencyReport(w http.ResponseWriter, r *http.Request) {
	if !s.haveTransparency(w, r) {
		return
	}
	p, err := transparency.ParsePeriod(r.URL.Query().Get("period"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rep, err := s.Transparency.Report(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" && strings.Contains(r.Header.Get("Accept"), "text/html") {
		format = "html"
	}
	switch format {
	case "", "json":
		writeJSON(w, http.StatusOK, rep)
	case "html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		if err := rep.WriteHTML(w); err != nil {
			s.Logger.Error("transparency report page", "err", err)
		}
	default:
		s.writeError(w, r, herd.Errorf(herd.EINVALID, "format %q: want json or html", format))
	}
}

// RegisterRequest registers a request for user data (admin).
func (c *Client) RegisterRequest(ctx context.Context, n transparency.New) (transparency.Request, error) {
	var out transparency.Request
	err := c.do(ctx, http.MethodPost, "/v1/admin/transparency/requests", n, &out)
	return out, err
}

// TransparencyRequests lists the register (admin).
func (c *Client) TransparencyRequests(ctx context.Context) (TransparencyList, error) {
	var out TransparencyList
	err := c.do(ctx, http.MethodGet, "/v1/admin/transparency/requests", nil, &out)
	return out, err
}

// TransparencyRequest returns one request with its history (admin).
func (c *Client) TransparencyRequest(ctx context.Context, id string) (transparency.Request, error) {
	var out transparency.Request
	err := c.do(ctx, http.MethodGet, "/v1/admin/transparency/requests/"+url.PathEscape(id), nil, &out)
	return out, err
}

// StartReview moves a received request into review (admin).
func (c *Client) StartReview(ctx context.Context, id string) (transparency.Request, error) {
	var out transparency.Request
	err := c.do(ctx, http.MethodPost, "/v1/admin/transparency/requests/"+url.PathEscape(id)+"/review", nil, &out)
	return out, err
}

// Decide approves or rejects a request in review (privacy officer).
func (c *Client) Decide(ctx context.Context, id string, approve bool, reasons string) (transparency.Request, error) {
	d := DecisionRequest{Decision: "reject", Reasons: reasons}
	if approve {
		d.Decision = "approve"
	}
	var out transparency.Request
	err := c.do(ctx, http.MethodPost, "/v1/admin/transparency/requests/"+url.PathEscape(id)+"/decision", d, &out)
	return out, err
}

// Fulfil records what was disclosed for an approved request (admin).
func (c *Client) Fulfil(ctx context.Context, id, disclosed string) (transparency.Request, error) {
	var out transparency.Request
	err := c.do(ctx, http.MethodPost, "/v1/admin/transparency/requests/"+url.PathEscape(id)+"/fulfil", FulfilRequest{Disclosed: disclosed}, &out)
	return out, err
}

// TransparencyReport fetches the report of a half-year such as "2026H2" (admin).
func (c *Client) TransparencyReport(ctx context.Context, period string) (transparency.Report, error) {
	var out transparency.Report
	err := c.do(ctx, http.MethodGet, "/v1/admin/transparency/report?period="+url.QueryEscape(period), nil, &out)
	return out, err
}
