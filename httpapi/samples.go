package httpapi

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herdsec/herd"
)

// Suspicious-file samples: an enrolled agent uploads an unknown executable
// that a behaviour rule or heuristic flagged, only with the device's
// "suspicious" consent category on; analysts list, download and judge them.

// The headers of a sample upload (POST /v1/samples); the body is the file.
const (
	HeaderSampleSHA256 = "Herd-Sample-Sha256"
	HeaderSampleType   = "Herd-Sample-Type"
)

// DefaultMaxSampleBytes is the upload cap when none is configured.
const DefaultMaxSampleBytes = 32 << 20

// SampleFileTypes are the kinds of file a sample may be.
var SampleFileTypes = []string{"elf", "pe", "script", "macho", "other"}

// maxSampleVerdictBody bounds the body of a sample verdict.
const maxSampleVerdictBody = 4 << 10

// SampleOffer is what an upload says of its file.
type SampleOffer struct {
	SHA256   string // lowercase hex
	FileType string // one of SampleFileTypes
}

// SampleReceipt answers an upload.
type SampleReceipt struct {
	SHA256 string `json:"sha256"`
	// Stored: the bytes were new. False: the cloud held them already and
	// only counted the device.
	Stored  bool   `json:"stored"`
	Devices int    `json:"devices"` // how many devices offered the file
	Status  string `json:"status"`  // queued or reviewed
}

// SampleInfo describes a held sample (admin). It names no device.
type SampleInfo struct {
	SHA256    string       `json:"sha256"`
	FileType  string       `json:"file_type"`
	Size      int64        `json:"size"`
	FirstSeen time.Time    `json:"first_seen"` // the hour it was first offered
	Devices   int          `json:"devices"`
	Status    string       `json:"status"` // queued or reviewed
	Verdict   herd.Verdict `json:"verdict,omitempty"`
	Threat    string       `json:"threat,omitempty"`
	Reviewer  string       `json:"reviewer,omitempty"`
	Reviewed  time.Time    `json:"reviewed,omitzero"`
}

// SamplesResponse lists the held samples: queued first, oldest first.
type SamplesResponse struct {
	Samples []SampleInfo `json:"samples"`
}

// SampleVerdictRequest is an analyst's verdict on a sample.
type SampleVerdictRequest struct {
	Verdict herd.Verdict `json:"verdict"`
	Threat  string       `json:"threat,omitempty"`
}

// SampleVerdictResponse confirms a sample's verdict: the sample, and the
// verdict store's sequence number of the change (lookups serve it now).
type SampleVerdictResponse struct {
	Sample SampleInfo `json:"sample"`
	Seq    uint64     `json:"seq"`
}

// SampleService keeps suspicious-file samples (package cloud).
type SampleService interface {
	// Offer takes a file from an enrolled device. Before it reads body it
	// refuses (ECONSENT) unless the device's stored consent allows the
	// suspicious category; it refuses (EINVALID) bytes whose SHA-256 is
	// not o.SHA256; it keeps the bytes sealed, once per hash: offering a
	// held file again only counts the device. Errors of body (such as
	// *http.MaxBytesError) are returned wrapped.
	Offer(ctx context.Context, device string, o SampleOffer, body io.Reader) (SampleReceipt, error)
	// Samples describes every held sample, in no order.
	Samples(ctx context.Context) ([]SampleInfo, error)
	// Sample describes one held sample, or ENOTFOUND.
	Sample(ctx context.Context, sha string) (SampleInfo, error)
	// Open returns a held sample's bytes, decrypted and checked against
	// its hash; ENOTFOUND if it is not held or can no longer be decrypted
	// (every licence that offered it was erased).
	Open(ctx context.Context, sha string) (SampleInfo, []byte, error)
	// Review records an analyst's verdict on a held sample and marks it
	// reviewed; ENOTFOUND if it is not held.
	Review(ctx context.Context, sha string, v herd.Verdict, threat, reviewer string) (SampleInfo, error)
}

// DecodeSampleOffer reads and checks the headers of a sample upload: each
// present once, the hash as 64 hex digits, the file type one of
// SampleFileTypes.
func DecodeSampleOffer(h http.Header) (SampleOffer, error) {
	one := func(name string) (string, error) {
		vs := h.Values(name)
		switch {
		case len(vs) == 0 || vs[0] == "":
			return "", headerError(name, "missing")
		case len(vs) > 1:
			return "", headerError(name, "given more than once")
		}
		return strings.TrimSpace(vs[0]), nil
	}
	sha, err := one(HeaderSampleSHA256)
	if err != nil {
		return SampleOffer{}, err
	}
	sha, err = ParseSHA256(sha)
	if err != nil {
		return SampleOffer{}, headerError(HeaderSampleSHA256, herd.ErrorMessage(err))
	}
	typ, err := one(HeaderSampleType)
	if err != nil {
		return SampleOffer{}, err
	}
	if !slices.Contains(SampleFileTypes, typ) {
		return SampleOffer{}, headerError(HeaderSampleType, fmt.Sprintf("%q: want one of %s", clip(typ), strings.Join(SampleFileTypes, ", ")))
	}
	return SampleOffer{SHA256: sha, FileType: typ}, nil
}

// ParseSHA256 checks a SHA-256 in hex and returns it in lowercase.
func ParseSHA256(s string) (string, error) {
	if len(s) != 64 {
		return "", herd.Errorf(herd.EINVALID, "sha256 %q: want 64 hex digits, got %d characters", clip(s), len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", herd.Errorf(herd.EINVALID, "sha256 %q: not hex", clip(s))
	}
	return strings.ToLower(s), nil
}

func headerError(name, msg string) error {
	return &herd.Error{Code: herd.EINVALID, Message: fmt.Sprintf("header %s: %s", name, msg),
		Problems: []herd.Problem{{Index: -1, Field: name, Message: msg}}}
}

func (s *Server) samples(w http.ResponseWriter, r *http.Request) bool {
	if s.Samples == nil {
		s.writeError(w, r, herd.Errorf(herd.EUNAVAILABLE, "this cloud keeps no samples"))
		return false
	}
	return true
}

func (s *Server) maxSampleBytes() int64 {
	if s.MaxSampleBytes > 0 {
		return s.MaxSampleBytes
	}
	return DefaultMaxSampleBytes
}

func (s *Server) handleSampleUpload(w http.ResponseWriter, r *http.Request) {
	if !s.samples(w, r) {
		return
	}
	// A sample is sealed under the key of the licence its device holds, so
	// only an enrolled device can offer one.
	dev, ok := DeviceOf(r)
	if !ok {
		s.writeError(w, r, herd.Errorf(herd.EUNAUTHORIZED, "samples need an enrolled device's certificate (mutual TLS): enroll this device first (herd enroll)"))
		return
	}
	o, err := DecodeSampleOffer(r.Header)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit := s.maxSampleBytes()
	if r.ContentLength > limit {
		s.writeError(w, r, herd.Errorf(herd.ETOOLARGE, "sample: %d bytes, over the cap of %d bytes", r.ContentLength, limit))
		return
	}
	res, err := s.Samples.Offer(r.Context(), dev, o, http.MaxBytesReader(w, r.Body, limit))
	var max *http.MaxBytesError
	if errors.As(err, &max) {
		err = herd.Errorf(herd.ETOOLARGE, "sample: over the cap of %d bytes", max.Limit)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("sample offered", "sha256", res.SHA256, "stored", res.Stored, "devices", res.Devices)
	writeJSON(w, http.StatusOK, res)
}

// sortSamples puts queued samples first, each group oldest first.
func sortSamples(ss []SampleInfo) {
	slices.SortFunc(ss, func(a, b SampleInfo) int {
		if qa, qb := a.Status == "queued", b.Status == "queued"; qa != qb {
			if qa {
				return -1
			}
			return 1
		}
		if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
			return c
		}
		return cmp.Compare(a.SHA256, b.SHA256)
	})
}

func (s *Server) handleListSamples(w http.ResponseWriter, r *http.Request) {
	if !s.samples(w, r) {
		return
	}
	ss, err := s.Samples.Samples(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ss == nil {
		ss = []SampleInfo{}
	}
	sortSamples(ss)
	writeJSON(w, http.StatusOK, SamplesResponse{Samples: ss})
}

func (s *Server) pathSHA256(w http.ResponseWriter, r *http.Request) (string, bool) {
	sha, err := ParseSHA256(r.PathValue("sha256"))
	if err != nil {
		s.writeError(w, r, err)
		return "", false
	}
	return sha, true
}

// handleGetSample sends a sample's bytes; the admin wrapper has written
// the download to the audit log before this runs.
func (s *Server) handleGetSample(w http.ResponseWriter, r *http.Request) {
	if !s.samples(w, r) {
		return
	}
	sha, ok := s.pathSHA256(w, r)
	if !ok {
		return
	}
	info, b, err := s.Samples.Open(r.Context(), sha)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if op, ok := OperatorOf(r); ok {
		s.Logger.Info("sample downloaded", "sha256", sha, "operator", op.Name)
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="`+sha+`.sample"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set(HeaderSampleType, info.FileType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func (s *Server) handleSampleVerdict(w http.ResponseWriter, r *http.Request) {
	if !s.samples(w, r) {
		return
	}
	sha, ok := s.pathSHA256(w, r)
	if !ok {
		return
	}
	var req SampleVerdictRequest
	if err := decodeJSON(http.MaxBytesReader(w, r.Body, maxSampleVerdictBody), &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	rec := herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: sha}, Verdict: req.Verdict, Threat: req.Threat,
		Source: herd.SourceOperator, Updated: time.Now().UTC()}
	if err := rec.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	// Only a held sample is judged here: the verdict is stored first, so
	// that a sample is never marked reviewed without its verdict served.
	if _, err := s.Samples.Sample(r.Context(), sha); err != nil {
		s.writeError(w, r, err)
		return
	}
	seq, err := s.Verdicts.Put(r.Context(), rec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.waitIndexed(r.Context(), seq)
	reviewer := "unknown"
	if op, ok := OperatorOf(r); ok {
		reviewer = op.Name
	}
	info, err := s.Samples.Review(r.Context(), sha, rec.Verdict, rec.Threat, reviewer)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("sample reviewed", "sha256", sha, "verdict", rec.Verdict, "seq", seq)
	writeJSON(w, http.StatusOK, SampleVerdictResponse{Sample: info, Seq: seq})
}

// waitIndexed waits (5 s at most) until this replica's index serves the
// verdict change seq: read-your-writes for the analyst.
func (s *Server) waitIndexed(ctx context.Context, seq uint64) {
	wf, ok := s.Reputation.(interface {
		WaitFor(context.Context, uint64) error
	})
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := wf.WaitFor(ctx, seq); err != nil {
		s.Logger.Warn("verdict stored but not yet indexed", "seq", seq, "err", err)
	}
}
