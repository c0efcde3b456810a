package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/herdsec/herd"
)

// UploadSample sends a file of size bytes, read from body, as a sample
// (enrolled devices only). The cloud checks the bytes against o.SHA256.
func (c *Client) UploadSample(ctx context.Context, o SampleOffer, body io.Reader, size int64) (SampleReceipt, error) {
	var resp SampleReceipt
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/v1/samples", body)
	if err != nil {
		return resp, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(HeaderSampleSHA256, o.SHA256)
	req.Header.Set(HeaderSampleType, o.FileType)
	res, err := c.httpClient().Do(req)
	if err != nil {
		return resp, &herd.Error{Code: herd.EUNAVAILABLE, Message: fmt.Sprintf("cloud %s unreachable: %v", c.BaseURL, err)}
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		return resp, responseError(res)
	}
	if err := json.NewDecoder(res.Body).Decode(&resp); err != nil {
		return resp, fmt.Errorf("POST /v1/samples: decode answer: %w", err)
	}
	return resp, nil
}

// Samples lists the held samples, queued first (analyst).
func (c *Client) Samples(ctx context.Context) (SamplesResponse, error) {
	var resp SamplesResponse
	err := c.do(ctx, http.MethodGet, "/v1/admin/samples", nil, &resp)
	return resp, err
}

// Sample downloads a held sample's bytes and says its file type (analyst;
// the download is in the audit log). At most max bytes are read.
func (c *Client) Sample(ctx context.Context, sha string, max int64) (data []byte, fileType string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/v1/admin/samples/"+url.PathEscape(sha), nil)
	if err != nil {
		return nil, "", err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := c.httpClient().Do(req)
	if err != nil {
		return nil, "", &herd.Error{Code: herd.EUNAVAILABLE, Message: fmt.Sprintf("cloud %s unreachable: %v", c.BaseURL, err)}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, "", responseError(res)
	}
	data, err = io.ReadAll(io.LimitReader(res.Body, max+1))
	if err != nil {
		return nil, "", &herd.Error{Code: herd.EUNAVAILABLE, Message: "sample download broken: " + err.Error()}
	}
	if int64(len(data)) > max {
		return nil, "", herd.Errorf(herd.ETOOLARGE, "sample %s: larger than %d bytes", sha, max)
	}
	return data, res.Header.Get(HeaderSampleType), nil
}

// SetSampleVerdict judges a held sample (analyst): the verdict is stored
// as an operator's and the sample marked reviewed.
func (c *Client) SetSampleVerdict(ctx context.Context, sha string, v herd.Verdict, threat string) (SampleVerdictResponse, error) {
	var resp SampleVerdictResponse
	err := c.do(ctx, http.MethodPost, "/v1/admin/samples/"+url.PathEscape(sha)+"/verdict", SampleVerdictRequest{Verdict: v, Threat: threat}, &resp)
	return resp, err
}
