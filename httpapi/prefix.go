package httpapi

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/herdsec/herd"
)

// Private lookups: the agent sends only the first bits of a file's hash and
// gets back every malicious or suspicious entry under that prefix, then
// matches locally. The cloud never learns which file a device holds, and
// the answer is padded to a size class so that its length does not say how
// many entries there were.

// Limits of POST /v1/lookup/prefix.
const (
	MinPrefixBits      = 16
	MaxPrefixBits      = 32
	DefaultPrefixBits  = 24
	MaxPrefixes        = 1000
	maxPrefixBody      = 64 << 10
	minPrefixSizeClass = 1 << 10
)

// PrefixRequest is the body of POST /v1/lookup/prefix.
type PrefixRequest struct {
	// Bits is how many leading bits of each prefix count (16 to 32).
	Bits int `json:"bits"`
	// Prefixes are hex, ceil(bits/8) bytes each, with the bits past Bits zero.
	Prefixes []PrefixQuery `json:"prefixes"`
}

// PrefixQuery is one prefix of one hash kind.
type PrefixQuery struct {
	Kind   herd.Kind `json:"kind"`
	Prefix string    `json:"prefix"`
}

// PrefixResponse answers a PrefixRequest; Pad makes the body's length a
// size class (a power of two, at least 1 KiB).
type PrefixResponse struct {
	Bits    int            `json:"bits"`
	Results []PrefixResult `json:"results"`
	// TTL is how long, in seconds, the agent may keep the answer.
	TTL int    `json:"ttl"`
	Pad string `json:"pad"`
}

// PrefixResult lists the non-clean entries under one prefix, in hash order.
type PrefixResult struct {
	Kind    herd.Kind     `json:"kind"`
	Prefix  string        `json:"prefix"`
	Entries []PrefixEntry `json:"entries"`
}

// PrefixEntry is one known malicious or suspicious hash.
type PrefixEntry struct {
	Value   string       `json:"value"`
	Verdict herd.Verdict `json:"verdict"`
	Threat  string       `json:"threat,omitempty"`
	Source  string       `json:"source,omitempty"`
	Test    bool         `json:"test,omitempty"`
}

// PrefixIndex answers prefix queries (package reputation's Index).
type PrefixIndex interface {
	// Prefix returns the malicious and suspicious records of kind whose hash
	// starts with the first bits of prefix, in hash order.
	Prefix(kind herd.Kind, prefix []byte, bits int) []herd.Record
}

// prefixBytes returns how many bytes a prefix of bits holds.
func prefixBytes(bits int) int { return (bits + 7) / 8 }

// DecodePrefixLookup reads and checks a PrefixRequest, returning the raw
// prefixes; a bad prefix is named by its index.
func DecodePrefixLookup(r io.Reader) (PrefixRequest, [][]byte, error) {
	var req PrefixRequest
	if err := decodeJSON(r, &req); err != nil {
		return req, nil, err
	}
	if req.Bits < MinPrefixBits || req.Bits > MaxPrefixBits {
		return req, nil, herd.Errorf(herd.EINVALID, "bits: %d, want %d to %d", req.Bits, MinPrefixBits, MaxPrefixBits)
	}
	if len(req.Prefixes) == 0 {
		return req, nil, herd.Errorf(herd.EINVALID, "prefixes: none given")
	}
	if len(req.Prefixes) > MaxPrefixes {
		return req, nil, herd.Errorf(herd.ETOOLARGE, "prefixes: %d, the limit is %d per request", len(req.Prefixes), MaxPrefixes)
	}
	n := prefixBytes(req.Bits)
	raw := make([][]byte, len(req.Prefixes))
	var problems []herd.Problem
	for i, q := range req.Prefixes {
		b, err := checkPrefix(q, req.Bits, n)
		if err != nil {
			problems = append(problems, herd.Problem{Index: i, Field: "prefix", Code: herd.EINVALID, Message: err.Error()})
			continue
		}
		raw[i] = b
	}
	if problems != nil {
		return req, nil, &herd.Error{Code: herd.EINVALID, Message: fmt.Sprintf("prefixes: %d of %d invalid", len(problems), len(req.Prefixes)), Problems: clipProblems(problems)}
	}
	return req, raw, nil
}

func checkPrefix(q PrefixQuery, bits, n int) ([]byte, error) {
	if q.Kind.HexLen() == 0 {
		return nil, fmt.Errorf("kind %q: prefix lookups are for sha256, sha1 and md5", q.Kind)
	}
	if len(q.Prefix) != 2*n {
		return nil, fmt.Errorf("%d hex digits, want %d for %d bits", len(q.Prefix), 2*n, bits)
	}
	if strings.ToLower(q.Prefix) != q.Prefix {
		return nil, fmt.Errorf("want lowercase hex")
	}
	b, err := hex.DecodeString(q.Prefix)
	if err != nil {
		return nil, fmt.Errorf("not hex")
	}
	if rest := bits % 8; rest != 0 && b[n-1]&(0xff>>rest) != 0 {
		return nil, fmt.Errorf("bits past the first %d must be zero (they would tell more of the hash)", bits)
	}
	return b, nil
}

func (s *Server) handlePrefixLookup(w http.ResponseWriter, r *http.Request) {
	if s.Prefixes == nil {
		s.writeError(w, r, herd.Errorf(herd.ENOTFOUND, "this server answers no prefix lookups"))
		return
	}
	req, raw, err := DecodePrefixLookup(http.MaxBytesReader(w, r.Body, maxPrefixBody))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := PrefixResponse{Bits: req.Bits, Results: make([]PrefixResult, len(raw)), TTL: int(s.NegativeTTL.Seconds())}
	for i, p := range raw {
		q := req.Prefixes[i]
		res := PrefixResult{Kind: q.Kind, Prefix: q.Prefix, Entries: []PrefixEntry{}}
		for _, rec := range s.Prefixes.Prefix(q.Kind, p, req.Bits) {
			res.Entries = append(res.Entries, PrefixEntry{Value: rec.Object.Value, Verdict: rec.Verdict, Threat: rec.Threat, Source: rec.Source, Test: rec.Test})
		}
		resp.Results[i] = res
	}
	b, err := padded(resp)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// padded encodes resp with Pad filling the body to its size class.
func padded(resp PrefixResponse) ([]byte, error) {
	resp.Pad = ""
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, err
	}
	class := minPrefixSizeClass
	for class < len(b) {
		class *= 2
	}
	resp.Pad = strings.Repeat(" ", class-len(b))
	return json.Marshal(resp)
}

// PrefixLookup sends a prefix lookup.
func (c *Client) PrefixLookup(ctx context.Context, req PrefixRequest) (PrefixResponse, error) {
	var resp PrefixResponse
	err := c.do(ctx, http.MethodPost, "/v1/lookup/prefix", req, &resp)
	return resp, err
}

// Private answers lookups through prefix lookups only: it sends the first
// Bits bits of each SHA-256 and matches the answer locally. Every other
// object is answered unknown without asking: a URL would have to be sent
// whole, and prefixes of a file's SHA-1 and MD5 besides its SHA-256 would
// together tell most of the file's identity. A hash absent from the answer
// is unknown: the cloud lists only malicious and suspicious entries.
type Private struct {
	Client *Client
	Bits   int // 0: DefaultPrefixBits
}

var _ herd.ReputationService = (*Private)(nil)

// Lookup returns the record of each object, in order.
func (p *Private) Lookup(ctx context.Context, objs []herd.Object) ([]herd.Record, error) {
	bits := p.Bits
	if bits == 0 {
		bits = DefaultPrefixBits
	}
	if bits < MinPrefixBits || bits > MaxPrefixBits {
		return nil, herd.Errorf(herd.EINVALID, "prefix bits: %d, want %d to %d", bits, MinPrefixBits, MaxPrefixBits)
	}
	out := make([]herd.Record, len(objs))
	type key struct {
		kind   herd.Kind
		prefix string
	}
	asked := map[key]bool{}
	var queries []PrefixQuery
	for i, o := range objs {
		out[i] = herd.Record{Object: o, Verdict: herd.VerdictUnknown}
		if o.Kind != herd.KindSHA256 {
			continue // never sent
		}
		q, err := PrefixOf(o.Kind, o.Value, bits)
		if err != nil {
			continue
		}
		k := key{q.Kind, q.Prefix}
		if !asked[k] {
			asked[k] = true
			queries = append(queries, PrefixQuery{Kind: k.kind, Prefix: k.prefix})
		}
	}
	found := map[herd.Object]PrefixEntry{}
	for len(queries) > 0 {
		n := min(len(queries), MaxPrefixes)
		resp, err := p.Client.PrefixLookup(ctx, PrefixRequest{Bits: bits, Prefixes: queries[:n]})
		if err != nil {
			return nil, err
		}
		for _, res := range resp.Results {
			for _, e := range res.Entries {
				found[herd.Object{Kind: res.Kind, Value: e.Value}] = e
			}
		}
		queries = queries[n:]
	}
	for i, o := range objs {
		if e, ok := found[herd.Object{Kind: o.Kind, Value: strings.ToLower(o.Value)}]; ok {
			out[i] = herd.Record{Object: o, Verdict: e.Verdict, Threat: e.Threat, Source: e.Source, Test: e.Test}
		}
	}
	return out, nil
}

// PrefixOf returns the prefix query a Private lookup sends for a hash, for
// tests and documentation.
func PrefixOf(kind herd.Kind, value string, bits int) (PrefixQuery, error) {
	full, err := hex.DecodeString(value)
	if err != nil || kind.HexLen() == 0 || len(full)*2 != kind.HexLen() {
		return PrefixQuery{}, herd.Errorf(herd.EINVALID, "%s:%s: not a hash", kind, value)
	}
	pre := bytes.Clone(full[:prefixBytes(bits)])
	if rest := bits % 8; rest != 0 {
		pre[len(pre)-1] &^= 0xff >> rest
	}
	return PrefixQuery{Kind: kind, Prefix: hex.EncodeToString(pre)}, nil
}
