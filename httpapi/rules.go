package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/rules/bundle"
)

// Behaviour rules from the cloud: an operator publishes Sigma rule files
// (POST /v1/admin/rules); the cloud checks every one, signs them as the
// next generation (package agent/rules/bundle) and serves the latest
// bundle to agents (GET /v1/rules), which verify it before use.

// RulesGenerationHeader carries the generation of GET /v1/rules.
const RulesGenerationHeader = "Herd-Rules-Generation"

// maxRulesBody bounds a publication: the bundle limit, plus JSON escaping.
const maxRulesBody = 2 * bundle.MaxSize

// RuleService publishes and serves the signed behaviour rules.
type RuleService interface {
	// Publish checks every file as an agent would load it (EINVALID
	// listing each bad file by index and name; nothing is published
	// then), signs the files as the next generation and stores it.
	// ECONFLICT: another publication took that generation.
	Publish(ctx context.Context, files []bundle.File) (bundle.Summary, error)
	// Latest returns the latest signed bundle, encoded, and its
	// generation; ENOTFOUND when none was published.
	Latest(ctx context.Context) ([]byte, uint64, error)
	// Summary describes the latest bundle; ENOTFOUND when none.
	Summary(ctx context.Context) (bundle.Summary, error)
}

// PublishRulesRequest publishes a rule set: every file, whole (the
// rules not listed are no longer served).
type PublishRulesRequest struct {
	Rules []bundle.File `json:"rules"`
}

func (s *Server) haveRules(w http.ResponseWriter, r *http.Request) bool {
	if s.Rules == nil {
		s.writeError(w, r, herd.Errorf(herd.EUNAVAILABLE, "this cloud signs no rules (it has no CA: served over plain HTTP)"))
		return false
	}
	return true
}

func (s *Server) handlePublishRules(w http.ResponseWriter, r *http.Request) {
	if !s.haveRules(w, r) {
		return
	}
	var req PublishRulesRequest
	if err := decodeJSON(http.MaxBytesReader(w, r.Body, maxRulesBody), &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	sum, err := s.Rules.Publish(r.Context(), req.Rules)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("rules published", "generation", sum.Generation, "rules", len(sum.Rules), "sha256", sum.SHA256)
	writeJSON(w, http.StatusOK, sum)
}

func (s *Server) handleRulesSummary(w http.ResponseWriter, r *http.Request) {
	if !s.haveRules(w, r) {
		return
	}
	sum, err := s.Rules.Summary(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

func (s *Server) handleRules(w http.ResponseWriter, r *http.Request) {
	if !s.haveRules(w, r) {
		return
	}
	b, gen, err := s.Rules.Latest(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set(RulesGenerationHeader, strconv.FormatUint(gen, 10))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// Rules downloads the latest signed rule bundle, as it was signed; the
// caller verifies it (bundle.Install). ENOTFOUND: none was published.
func (c *Client) Rules(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/v1/rules", nil)
	if err != nil {
		return nil, err
	}
	res, err := c.httpClient().Do(req)
	if err != nil {
		return nil, &herd.Error{Code: herd.EUNAVAILABLE, Message: fmt.Sprintf("cloud %s unreachable: %v", c.BaseURL, err)}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, responseError(res)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, bundle.MaxSize+1))
	if err != nil {
		return nil, &herd.Error{Code: herd.EUNAVAILABLE, Message: "rules download broken: " + err.Error()}
	}
	if len(b) > bundle.MaxSize {
		return nil, herd.Errorf(herd.ETOOLARGE, "rules: more than %d bytes", bundle.MaxSize)
	}
	return b, nil
}

// PublishRules publishes a rule set (admin).
func (c *Client) PublishRules(ctx context.Context, files []bundle.File) (bundle.Summary, error) {
	var out bundle.Summary
	err := c.do(ctx, http.MethodPost, "/v1/admin/rules", PublishRulesRequest{Rules: files}, &out)
	return out, err
}

// RulesSummary describes the latest published rule set (admin).
func (c *Client) RulesSummary(ctx context.Context) (bundle.Summary, error) {
	var out bundle.Summary
	err := c.do(ctx, http.MethodGet, "/v1/admin/rules", nil, &out)
	return out, err
}

var _ bundle.Source = (*Client)(nil)
