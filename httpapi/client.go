package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"github.com/herdsec/herd/consent"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/audit"
	"github.com/herdsec/herd/dsr"
	"github.com/herdsec/herd/identity"
)

// Client speaks the agent and admin APIs.
type Client struct {
	BaseURL string       // e.g. https://127.0.0.1:8440
	HTTP    *http.Client // nil: a client with a 30 s timeout
	Token   string       // admin bearer token, for admin calls
}

// NewClient returns a client of the cloud at baseURL.
func NewClient(baseURL string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, herd.Errorf(herd.EINVALID, "cloud URL %q: want http(s)://HOST:PORT", baseURL)
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}, nil
}

var _ herd.ReputationService = (*Client)(nil)

// UseTLS makes the client speak TLS with cfg: the CAs it trusts and, for an
// enrolled agent, its device certificate.
func (c *Client) UseTLS(cfg *tls.Config) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	hc := *c.httpClient()
	hc.Transport = tr
	c.HTTP = &hc
}

// Lookup returns the cloud's verdict of each object, in order, asking in
// batches of at most MaxLookupObjects.
func (c *Client) Lookup(ctx context.Context, objs []herd.Object) ([]herd.Record, error) {
	out := make([]herd.Record, 0, len(objs))
	for len(objs) > 0 {
		n := min(len(objs), MaxLookupObjects)
		resp, err := c.LookupAnswers(ctx, objs[:n])
		if err != nil {
			return nil, err
		}
		for _, a := range resp.Results {
			out = append(out, herd.Record{Object: herd.Object{Kind: a.Kind, Value: a.Value}, Verdict: a.Verdict, Threat: a.Threat, Source: a.Source, Test: a.Test})
		}
		objs = objs[n:]
	}
	return out, nil
}

// LookupAnswers asks for the verdicts of up to MaxLookupObjects objects and
// returns the wire answer, with cache TTLs.
func (c *Client) LookupAnswers(ctx context.Context, objs []herd.Object) (LookupResponse, error) {
	var resp LookupResponse
	err := c.do(ctx, http.MethodPost, "/v1/lookup", LookupRequest{Objects: objs}, &resp)
	if err == nil && len(resp.Results) != len(objs) {
		err = fmt.Errorf("lookup: %d answers for %d objects", len(resp.Results), len(objs))
	}
	return resp, err
}

// SendTelemetry sends a batch of events and returns once they are stored.
func (c *Client) SendTelemetry(ctx context.Context, device string, events []herd.Event) (TelemetryResponse, error) {
	body, err := json.Marshal(TelemetryRequest{Device: device, Events: events})
	if err != nil {
		return TelemetryResponse{}, err
	}
	return c.SendTelemetryBody(ctx, body)
}

// SendTelemetryBody sends an encoded TelemetryRequest as it is, so that the
// agent can keep the exact bytes it sent.
func (c *Client) SendTelemetryBody(ctx context.Context, body []byte) (TelemetryResponse, error) {
	var resp TelemetryResponse
	err := c.do(ctx, http.MethodPost, "/v1/telemetry", json.RawMessage(body), &resp)
	return resp, err
}

// SetConsent sends the device's consent record.
func (c *Client) SetConsent(ctx context.Context, device string, rec consent.Record) (ConsentResponse, error) {
	var resp ConsentResponse
	err := c.do(ctx, http.MethodPost, "/v1/consent", ConsentRequest{Device: device, Record: rec}, &resp)
	return resp, err
}

// SetConsentRecord sends the consent record and returns the cloud's receipt.
func (c *Client) SetConsentRecord(ctx context.Context, device string, rec consent.Record) (herd.ConsentReceipt, error) {
	return c.SetConsent(ctx, device, rec)
}

// Inventory returns the cloud's data inventory as JSON.
func (c *Client) Inventory(ctx context.Context) (json.RawMessage, error) {
	var resp json.RawMessage
	err := c.do(ctx, http.MethodGet, "/v1/inventory", nil, &resp)
	return resp, err
}

// SetVerdicts stores verdicts through the admin API.
func (c *Client) SetVerdicts(ctx context.Context, vs []VerdictInput) (SetVerdictsResponse, error) {
	var resp SetVerdictsResponse
	err := c.do(ctx, http.MethodPost, "/v1/admin/verdicts", SetVerdictsRequest{Verdicts: vs}, &resp)
	return resp, err
}

// GetVerdict returns the current verdict of obj through the admin API.
func (c *Client) GetVerdict(ctx context.Context, obj herd.Object) (VerdictResponse, error) {
	var resp VerdictResponse
	err := c.do(ctx, http.MethodGet, "/v1/admin/verdict?object="+url.QueryEscape(obj.String()), nil, &resp)
	return resp, err
}

// Explain returns the verdict of obj with its evidence and history.
func (c *Client) Explain(ctx context.Context, obj herd.Object) (ExplainResponse, error) {
	var resp ExplainResponse
	err := c.do(ctx, http.MethodGet, "/v1/admin/verdict/explain?object="+url.QueryEscape(obj.String()), nil, &resp)
	return resp, err
}

// TelemetryStats returns the size of the telemetry store.
func (c *Client) TelemetryStats(ctx context.Context) (TelemetryStats, error) {
	var resp TelemetryStats
	err := c.do(ctx, http.MethodGet, "/v1/admin/telemetry/stats", nil, &resp)
	return resp, err
}

// Health returns nil if the cloud answers its health check.
func (c *Client) Health(ctx context.Context) error {
	var resp map[string]string
	return c.do(ctx, http.MethodGet, "/healthz", nil, &resp)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := c.httpClient().Do(req)
	if err != nil {
		return &herd.Error{Code: herd.EUNAVAILABLE, Message: fmt.Sprintf("cloud %s unreachable: %v", c.BaseURL, err)}
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		return responseError(res)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func responseError(res *http.Response) error {
	var eb ErrorBody
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if json.Unmarshal(b, &eb) != nil || eb.Error.Code == "" {
		return &herd.Error{Code: herd.EUNAVAILABLE, Message: fmt.Sprintf("cloud answered %s", res.Status)}
	}
	// The message already lists the first problem; keep the list for programs.
	return &herd.Error{Code: eb.Error.Code, Message: eb.Error.Message, Problems: eb.Error.Problems}
}

// Stream follows the verdict change stream from sequence after (0: from the
// beginning), calling fn for each change, until ctx ends, the connection
// breaks or fn returns an error. It returns the last sequence seen so that
// the caller can resume. A change with CaughtUp set marks the end of the backlog.
func (c *Client) Stream(ctx context.Context, after uint64, fn func(herd.VerdictChange) error) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/v1/verdicts/stream", nil)
	if err != nil {
		return after, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if after > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(after, 10))
	}
	hc := *c.httpClient()
	hc.Timeout = 0 // a stream lives as long as ctx
	res, err := hc.Do(req)
	if err != nil {
		return after, &herd.Error{Code: herd.EUNAVAILABLE, Message: fmt.Sprintf("cloud %s unreachable: %v", c.BaseURL, err)}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return after, responseError(res)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var event, data, id string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event != "" || data != "" {
				c, known, err := parseStreamEvent(event, data)
				if err != nil {
					return after, err
				}
				if !known {
					event, data, id = "", "", ""
					continue
				}
				if err := fn(c); err != nil {
					return after, err
				}
				if id != "" && !c.CaughtUp {
					after = c.Seq
				}
			}
			event, data, id = "", "", ""
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(line[len("data:"):], " ")
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(line[len("id:"):])
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return after, &herd.Error{Code: herd.EUNAVAILABLE, Message: "verdict stream broken: " + err.Error()}
	}
	return after, ctx.Err()
}

// parseStreamEvent decodes one event; known is false for events this
// client does not handle.
func parseStreamEvent(event, data string) (c herd.VerdictChange, known bool, err error) {
	switch event {
	case "caught-up":
		return herd.VerdictChange{CaughtUp: true}, true, nil
	case "verdict":
		var ev StreamEvent
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return c, false, fmt.Errorf("verdict stream: bad event: %w", err)
		}
		return herd.VerdictChange{Seq: ev.Seq, Record: ev.Record, Deleted: ev.Deleted}, true, nil
	}
	return c, false, nil
}

// Enroll sends an enrollment request (no client certificate needed).
func (c *Client) Enroll(ctx context.Context, r identity.EnrollRequest) (identity.Enrollment, error) {
	var resp identity.Enrollment
	err := c.do(ctx, http.MethodPost, "/v1/enroll", r, &resp)
	return resp, err
}

// CreateLicence creates a licence (admin).
func (c *Client) CreateLicence(ctx context.Context, r LicenceRequest) (LicenceResponse, error) {
	var resp LicenceResponse
	err := c.do(ctx, http.MethodPost, "/v1/admin/licenses", r, &resp)
	return resp, err
}

// Licence returns a licence with its devices (admin).
func (c *Client) Licence(ctx context.Context, id string) (LicenceResponse, error) {
	var resp LicenceResponse
	err := c.do(ctx, http.MethodGet, "/v1/admin/licenses/"+url.PathEscape(id), nil, &resp)
	return resp, err
}

// RevokeDevice revokes a device's certificate and frees its seat (admin).
func (c *Client) RevokeDevice(ctx context.Context, id string) (identity.Device, error) {
	var resp identity.Device
	err := c.do(ctx, http.MethodPost, "/v1/admin/devices/"+url.PathEscape(id)+"/revoke", nil, &resp)
	return resp, err
}

// CreateOperator adds an operator (admin role); the answer holds its token.
func (c *Client) CreateOperator(ctx context.Context, name string, roles []string) (OperatorResponse, error) {
	var resp OperatorResponse
	err := c.do(ctx, http.MethodPost, "/v1/admin/operators", OperatorRequest{Name: name, Roles: roles}, &resp)
	return resp, err
}

// Operators lists the operators (admin role).
func (c *Client) Operators(ctx context.Context) (OperatorsResponse, error) {
	var resp OperatorsResponse
	err := c.do(ctx, http.MethodGet, "/v1/admin/operators", nil, &resp)
	return resp, err
}

// RemoveOperator removes an operator (admin role).
func (c *Client) RemoveOperator(ctx context.Context, name string) error {
	var resp map[string]string
	return c.do(ctx, http.MethodDelete, "/v1/admin/operators/"+url.PathEscape(name), nil, &resp)
}

// AuditLog returns the newest last entries of the audit log.
func (c *Client) AuditLog(ctx context.Context, last int) (AuditResponse, error) {
	var resp AuditResponse
	err := c.do(ctx, http.MethodGet, "/v1/admin/audit?last="+strconv.Itoa(last), nil, &resp)
	return resp, err
}

// VerifyAudit checks the audit log's chain.
func (c *Client) VerifyAudit(ctx context.Context) (audit.Report, error) {
	var resp audit.Report
	err := c.do(ctx, http.MethodGet, "/v1/admin/audit/verify", nil, &resp)
	return resp, err
}

// ExportPerson returns everything kept about a licence's holder (privacy officer).
func (c *Client) ExportPerson(ctx context.Context, licence string) (dsr.PersonExport, error) {
	var resp dsr.PersonExport
	err := c.do(ctx, http.MethodGet, "/v1/admin/licenses/"+url.PathEscape(licence)+"/export", nil, &resp)
	return resp, err
}

// DeletePerson erases everything kept about a licence's holder (privacy officer).
func (c *Client) DeletePerson(ctx context.Context, licence string) (dsr.PersonDeletion, error) {
	var resp dsr.PersonDeletion
	err := c.do(ctx, http.MethodDelete, "/v1/admin/licenses/"+url.PathEscape(licence), nil, &resp)
	return resp, err
}

// ExportMyData returns everything the cloud keeps about this device.
func (c *Client) ExportMyData(ctx context.Context) (dsr.DeviceExport, error) {
	var resp dsr.DeviceExport
	err := c.do(ctx, http.MethodGet, "/v1/my-data", nil, &resp)
	return resp, err
}

// DeleteMyData erases everything the cloud keeps about this device.
func (c *Client) DeleteMyData(ctx context.Context) (dsr.DeviceDeletion, error) {
	var resp dsr.DeviceDeletion
	err := c.do(ctx, http.MethodDelete, "/v1/my-data", nil, &resp)
	return resp, err
}
