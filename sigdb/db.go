package sigdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/herdsec/herd"
)

// DB is an in-memory index of hash signatures, built by Load and then
// only read.
//
// Match may be called from any number of goroutines at once and takes no
// lock: nothing it reads changes after Load returns. Load itself must not
// run concurrently with Match or with another Load; load every database
// before scanning starts.
//
// The index is laid out for memory (a ClamAV main.hsb has millions of
// lines and agents run on small machines): per hash kind and loaded file, one
// sorted array of fixed-size entries in a single allocation, found through a
// bucket table on the leading hash bytes (which entries therefore omit), and
// one arena of front-coded names in entry order. Entries carry no pointer
// and no name reference, so the garbage collector never scans them.
type DB struct {
	segs [numKinds][]segment // one per Load that had signatures of the kind
	n    int
}

// segment indexes the signatures of one kind from one Load.
type segment struct {
	prefix  int      // leading hash bytes that select a bucket (0, 1 or 2), not stored in entries
	keyLen  int      // hash bytes stored per entry
	stride  int      // keyLen + 4 bytes of size
	entries []byte   // sorted by hash; each is key, then size as little-endian uint32 (anySize = any)
	buckets []uint32 // entries of bucket b are [buckets[b], buckets[b+1])
	// names holds each entry's name as: bytes shared with the previous
	// name, length of the rest, the rest. Every restartEvery'th name shares
	// nothing, so a name is decoded from at most restartEvery records.
	names    []byte
	restarts []uint32 // offset in names of entries 0, restartEvery, 2*restartEvery…
}

// restartEvery trades decoding time on a hit (rare) for 4 bytes of restart
// offset per that many signatures.
const restartEvery = 16

// maxFile keeps every offset into a loaded file, and so into a name arena,
// within 32 bits.
const maxFile = 1<<32 - 1

// New returns an empty DB.
func New() *DB { return &DB{} }

// Builtin returns a DB holding the EICAR test signatures under each of
// their hashes, so that a scanner with no database still proves it works.
func Builtin() *DB {
	var b strings.Builder
	for _, r := range herd.BuiltinRecords() {
		fmt.Fprintf(&b, "%s:*:%s\n", r.Object.Value, r.Threat)
	}
	db := New()
	if err := db.Load(strings.NewReader(b.String()), "builtin"); err != nil {
		panic("sigdb: builtin signatures: " + err.Error())
	}
	return db
}

// Len returns the number of signatures loaded.
func (db *DB) Len() int { return db.n }

// NeedsMD5 reports whether any md5 signature is loaded: if not, scanners
// need not spend time computing md5 digests.
func (db *DB) NeedsMD5() bool { return len(db.segs[kMD5]) > 0 }

// NeedsSHA1 reports whether any sha1 signature is loaded.
func (db *DB) NeedsSHA1() bool { return len(db.segs[kSHA1]) > 0 }

// Match returns the name of a signature matching the file digests: by
// sha256, then by sha1 if d.HaveSHA1, then by md5 if d.HaveMD5. A signature
// matches if its hash does and its size is d.Size or any. If several
// signatures of a kind match, which one's name is returned is unspecified.
func (db *DB) Match(d *herd.FileDigests) (name string, ok bool) {
	if name, ok := db.lookup(kSHA256, d.SHA256[:], d.Size); ok {
		return name, true
	}
	if d.HaveSHA1 {
		if name, ok := db.lookup(kSHA1, d.SHA1[:], d.Size); ok {
			return name, true
		}
	}
	if d.HaveMD5 {
		if name, ok := db.lookup(kMD5, d.MD5[:], d.Size); ok {
			return name, true
		}
	}
	return "", false
}

func (db *DB) lookup(kind int, h []byte, size int64) (string, bool) {
	for i := range db.segs[kind] {
		if name, ok := db.segs[kind][i].lookup(h, size); ok {
			return name, true
		}
	}
	return "", false
}

func (s *segment) lookup(h []byte, size int64) (string, bool) {
	b := 0
	switch s.prefix {
	case 1:
		b = int(h[0])
	case 2:
		b = int(h[0])<<8 | int(h[1])
	}
	key := h[s.prefix:]
	lo, end := int(s.buckets[b]), int(s.buckets[b+1])
	hi := end
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(s.key(m), key) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for i := lo; i < end && bytes.Equal(s.key(i), key); i++ {
		sz := binary.LittleEndian.Uint32(s.entries[i*s.stride+s.keyLen:])
		if sz == anySize || int64(sz) == size {
			return s.name(i), true
		}
	}
	return "", false
}

func (s *segment) key(i int) []byte {
	return s.entries[i*s.stride : i*s.stride+s.keyLen]
}

func (s *segment) name(i int) string {
	var buf [maxName]byte
	off := int(s.restarts[i/restartEvery])
	for j := i - i%restartEvery; ; j++ {
		shared, n := int(s.names[off]), int(s.names[off+1])
		copy(buf[shared:], s.names[off+2:off+2+n])
		off += 2 + n
		if j == i {
			return string(buf[:shared+n])
		}
	}
}

// LoadFile adds the signatures of the file at path, as Load does.
func (db *DB) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return db.Load(f, path)
}

// Load adds all signatures of one .hdb or .hsb file. On any error it adds
// nothing, leaving the DB as it was, and returns an error naming source and
// line (an *herd.Error with code EINVALID for a bad line).
func (db *DB) Load(r io.Reader, source string) error {
	data, err := readAll(r)
	if err != nil {
		var he *herd.Error
		if errors.As(err, &he) {
			return herd.Errorf(he.Code, "%s: %s", source, he.Message)
		}
		return fmt.Errorf("read %s: %w", source, err)
	}
	segs, n, err := build(data, source)
	if err != nil {
		return err
	}
	for k, s := range segs {
		if s != nil {
			db.segs[k] = append(db.segs[k], *s)
		}
	}
	db.n += n
	return nil
}

// readAll reads r whole, into a buffer sized up front when r can tell its
// size: a database is large, and growing by doubling would copy it several
// times and leave the garbage collector twice its size to reclaim.
func readAll(r io.Reader) ([]byte, error) {
	size := int64(4096)
	switch v := r.(type) {
	case interface{ Len() int }:
		size = int64(v.Len()) + 1
	case *os.File:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size() + 1
		}
	}
	if size > maxFile+1 {
		size = maxFile + 1
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > maxFile {
			return nil, herd.Errorf(herd.ETOOLARGE, "larger than %d bytes", int64(maxFile))
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// chunk is what one parsing worker found in its share of the file.
type chunk struct {
	recs   []rec
	counts [numKinds]int
	lines  int    // lines parsed; all of the chunk's unless msg is set
	msg    string // the first bad line's problem, at line number lines
}

// build parses a whole file and indexes it, one segment per hash kind
// present. Parsing runs on all CPUs over chunks split at line boundaries.
func build(data []byte, source string) (segs [numKinds]*segment, n int, err error) {
	workers := runtime.GOMAXPROCS(0)
	if len(data) < 1<<20 {
		workers = 1
	}
	chunks := make([]chunk, workers)
	var wg sync.WaitGroup
	start := 0
	for w := range workers {
		end := len(data)
		if w < workers-1 {
			end = max(start, len(data)*(w+1)/workers)
			if i := bytes.IndexByte(data[end:], '\n'); i >= 0 {
				end += i + 1
			} else {
				end = len(data)
			}
		}
		from := start
		wg.Go(func() { chunks[w].parse(data, from, end) })
		start = end
	}
	wg.Wait()

	line := 0
	var counts [numKinds]int
	for i := range chunks {
		c := &chunks[i]
		if c.msg != "" {
			return segs, 0, lineError(source, line+c.lines, c.msg)
		}
		line += c.lines
		for k := range counts {
			counts[k] += c.counts[k]
		}
	}
	for k, cnt := range counts {
		if cnt > 0 {
			segs[k] = buildSegment(k, cnt, chunks, data)
			n += cnt
		}
	}
	return segs, n, nil
}

func (c *chunk) parse(data []byte, start, end int) {
	c.recs = make([]rec, 0, bytes.Count(data[start:end], []byte{'\n'})+1)
	var r rec
	for i := start; i < end; {
		next := end
		j := bytes.IndexByte(data[i:end], '\n')
		if j >= 0 {
			next = i + j + 1
		} else {
			j = end - i
		}
		c.lines++
		nameAt, skip, msg := parseLine(data[i:i+j], &r)
		if msg != "" {
			c.msg = msg
			return
		}
		if !skip {
			r.nameOff = uint32(i + nameAt)
			c.recs = append(c.recs, r)
			c.counts[r.kind]++
		}
		i = next
	}
}

// buildSegment indexes the n signatures of one kind found in chunks. It
// sorts by a counting sort on the bucket bytes followed by a sort of each
// small bucket, which is linear in practice.
func buildSegment(kind, n int, chunks []chunk, data []byte) *segment {
	p := 0
	switch {
	case n >= 1<<18:
		p = 2 // 256 KiB of bucket table, at most 1 byte per signature
	case n >= 1<<10:
		p = 1
	}
	hl := hashLens[kind]
	s := &segment{prefix: p, keyLen: hl - p, stride: hl - p + 4}
	nb := 1 << (8 * p)
	bucket := func(h *[32]byte) int {
		switch p {
		case 1:
			return int(h[0])
		case 2:
			return int(h[0])<<8 | int(h[1])
		}
		return 0
	}

	s.buckets = make([]uint32, nb+1)
	for i := range chunks {
		for j := range chunks[i].recs {
			if r := &chunks[i].recs[j]; int(r.kind) == kind {
				s.buckets[bucket(&r.h)+1]++
			}
		}
	}
	for b := 1; b <= nb; b++ {
		s.buckets[b] += s.buckets[b-1]
	}
	next := slices.Clone(s.buckets[:nb])
	sorted := make([]rec, n)
	for i := range chunks {
		for j := range chunks[i].recs {
			if r := &chunks[i].recs[j]; int(r.kind) == kind {
				b := bucket(&r.h)
				sorted[next[b]] = *r
				next[b]++
			}
		}
	}
	for b := range nb {
		slices.SortFunc(sorted[s.buckets[b]:s.buckets[b+1]], cmpRec)
	}

	s.entries = make([]byte, n*s.stride)
	s.restarts = make([]uint32, 0, (n+restartEvery-1)/restartEvery)
	nameBytes := 0
	for i := range sorted {
		nameBytes += 2 + int(sorted[i].nameLen)
	}
	names := make([]byte, 0, nameBytes)
	var prev []byte
	for i := range sorted {
		r := &sorted[i]
		e := s.entries[i*s.stride : (i+1)*s.stride]
		copy(e, r.h[p:hl])
		binary.LittleEndian.PutUint32(e[s.keyLen:], r.size)

		name := data[r.nameOff : r.nameOff+uint32(r.nameLen)]
		shared := 0
		if i%restartEvery == 0 {
			s.restarts = append(s.restarts, uint32(len(names)))
		} else {
			for shared < len(prev) && shared < len(name) && prev[shared] == name[shared] {
				shared++
			}
		}
		names = append(names, byte(shared), byte(len(name)-shared))
		names = append(names, name[shared:]...)
		prev = name
	}
	// Front coding usually leaves most of the worst-case buffer unused.
	s.names = slices.Clone(names)
	return s
}

func cmpRec(a, b rec) int {
	for i := 0; i < 32; i += 8 {
		x, y := binary.BigEndian.Uint64(a.h[i:]), binary.BigEndian.Uint64(b.h[i:])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
