package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/reputation/filter"
)

// The offline filter: a compact snapshot of every malicious SHA-256 the
// cloud knows (package reputation/filter), and deltas of what was added
// since, so that an agent without a connection still recognises them.

// FilterGenerationHeader carries the generation of a filter answer.
const FilterGenerationHeader = "Herd-Filter-Generation"

// maxFilterBytes bounds a downloaded filter: 10 bits for each of 100
// million hashes is 125 MB.
const maxFilterBytes = 256 << 20

// FilterService serves the offline filter (package reputation's Filters).
type FilterService interface {
	// Snapshot returns the encoded current snapshot and its generation.
	Snapshot() ([]byte, uint64, error)
	// Delta returns an encoded delta holding every hash added since
	// generation from, which must not be older than the current snapshot
	// (ECONFLICT: fetch the snapshot instead); no bytes when nothing was
	// added since from.
	Delta(from uint64) ([]byte, uint64, error)
}

func (s *Server) handleFilter(w http.ResponseWriter, r *http.Request) {
	if s.Filters == nil {
		s.writeError(w, r, herd.Errorf(herd.ENOTFOUND, "this server serves no offline filter"))
		return
	}
	var (
		b   []byte
		gen uint64
		err error
	)
	if v := r.URL.Query().Get("from"); v != "" {
		from, perr := strconv.ParseUint(v, 10, 64)
		if perr != nil {
			s.writeError(w, r, herd.Errorf(herd.EINVALID, "from %q: not a generation", clip(v)))
			return
		}
		b, gen, err = s.Filters.Delta(from)
	} else {
		b, gen, err = s.Filters.Snapshot()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set(FilterGenerationHeader, strconv.FormatUint(gen, 10))
	w.Header().Set("Cache-Control", "no-store")
	if b == nil {
		w.WriteHeader(http.StatusNoContent) // nothing added since from
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// FilterSnapshot downloads the current offline filter.
func (c *Client) FilterSnapshot(ctx context.Context) (*filter.Snapshot, error) {
	b, err := c.getBinary(ctx, "/v1/filter")
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, herd.Errorf(herd.EUNAVAILABLE, "filter: the cloud sent no snapshot")
	}
	return filter.DecodeSnapshot(b)
}

// FilterDelta downloads the hashes added since generation from; nil, nil
// when nothing was added. It fails with ECONFLICT when from is older than
// the cloud's snapshot: fetch FilterSnapshot then.
func (c *Client) FilterDelta(ctx context.Context, from uint64) (*filter.Delta, error) {
	b, err := c.getBinary(ctx, "/v1/filter?from="+strconv.FormatUint(from, 10))
	if err != nil || b == nil {
		return nil, err
	}
	return filter.DecodeDelta(b)
}

func (c *Client) getBinary(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+path, nil)
	if err != nil {
		return nil, err
	}
	res, err := c.httpClient().Do(req)
	if err != nil {
		return nil, &herd.Error{Code: herd.EUNAVAILABLE, Message: fmt.Sprintf("cloud %s unreachable: %v", c.BaseURL, err)}
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	if res.StatusCode != http.StatusOK {
		return nil, responseError(res)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxFilterBytes+1))
	if err != nil {
		return nil, &herd.Error{Code: herd.EUNAVAILABLE, Message: "filter download broken: " + err.Error()}
	}
	if len(b) > maxFilterBytes {
		return nil, herd.Errorf(herd.ETOOLARGE, "filter: more than %d bytes", maxFilterBytes)
	}
	return b, nil
}
