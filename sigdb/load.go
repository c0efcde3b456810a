package sigdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/herdsec/herd"
)

// Loading runs in two steps, both on every CPU:
//
//  1. The file is read in blocks cut at line boundaries, and each block is
//     parsed by a worker into fixed-size records and its front-coded names.
//     Only a few blocks are in memory at once, never the whole file.
//  2. Per hash kind, the records are placed by a counting sort on their
//     bucket bytes straight into the final entry array, and each bucket,
//     a dozen entries on average, is sorted in place.
//
// Memory that is touched for the first time is expensive (page faults cost
// more than parsing on virtual machines), so temporary memory is limited to
// the records and a few reused buffers.

// blockSize is the unit of reading and parsing: small enough to stay in
// cache between the read and the parse, large enough that per-block work is
// noise.
const blockSize = 256 << 10

// maxFile keeps name numbers and arena offsets within 32 bits.
const maxFile = 1<<32 - 1

// rec is a parsed signature as Load keeps it until the index is built.
type rec struct {
	h    [32]byte
	size uint32
	name uint32 // number of the name within its block
}

// block is what one worker found in one block of the file.
type block struct {
	recs  [numKinds][]rec
	names []byte // front-coded names, as in names.blocks
	count int    // signatures (and names) in the block
	lines int    // lines parsed: all of the block's unless msg is set
	msg   string // the problem of the block's first bad line, line number lines
	base  int    // number of the block's first name in the file
}

// Load adds all signatures of one .hdb or .hsb file. On any error it adds
// nothing, leaving the DB as it was, and returns an error naming source and
// line (an *herd.Error with code EINVALID for a bad line).
func (db *DB) Load(r io.Reader, source string) error {
	blocks, err := parseBlocks(r, source)
	if err != nil {
		return err
	}
	var counts [numKinds]int
	total := 0
	for _, b := range blocks {
		b.base = total
		total += b.count
		for k := range counts {
			counts[k] += len(b.recs[k])
		}
	}
	if total == 0 {
		return nil
	}

	nm := new(names)
	for _, b := range blocks {
		if b.count > 0 {
			nm.bases = append(nm.bases, uint32(b.base))
			nm.blocks = append(nm.blocks, b.names)
		}
	}
	var segs [numKinds]*segment
	for k, n := range counts {
		if n > 0 {
			segs[k] = buildSegment(k, n, blocks)
			segs[k].names = nm
		}
	}
	for k, s := range segs {
		if s != nil {
			db.segs[k] = append(db.segs[k], *s)
		}
	}
	db.n += total
	return nil
}

// parseBlocks reads r and parses it in blocks on all CPUs. It returns the
// blocks in file order, or the error of the first bad line.
func parseBlocks(r io.Reader, source string) ([]*block, error) {
	workers := runtime.GOMAXPROCS(0)
	type job struct {
		b    *block
		data []byte
		buf  []byte
	}
	work := make(chan job)
	free := make(chan []byte, workers+2)
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var sc scratch
			for j := range work {
				if j.b.parse(j.data, &sc); j.b.msg != "" {
					failed.Store(true)
				}
				free <- j.buf
			}
		})
	}

	// Small inputs get a small buffer. It must still exceed any valid line,
	// so that a full buffer without a newline is a line too long.
	bufSize := blockSize
	if size := sizeHint(r); size >= 0 && size+1 < blockSize {
		bufSize = max(int(size)+1, 4*maxLine)
	}
	allocated := 0
	get := func() []byte {
		select {
		case b := <-free:
			return b
		default:
		}
		if allocated < workers+2 {
			allocated++
			return make([]byte, bufSize)
		}
		return <-free
	}

	var (
		blocks  []*block
		readErr error
		total   int64
	)
	buf, n := get(), 0
	for {
		eof := false
		for n < len(buf) && readErr == nil {
			m, err := r.Read(buf[n:])
			n += m
			total += int64(m)
			if err == io.EOF {
				eof = true
				break
			}
			readErr = err
		}
		if readErr != nil {
			break
		}
		if total > maxFile {
			readErr = herd.Errorf(herd.ETOOLARGE, "%s: larger than %d bytes", source, int64(maxFile))
			break
		}
		// Cut after the last newline and carry the partial line over. A
		// full buffer without any newline is handed over whole: it is
		// longer than maxLine, so its block fails there.
		cut := n
		if !eof {
			if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
				cut = i + 1
			}
		}
		var next []byte
		if !eof {
			next = get()
			n = copy(next, buf[cut:n])
		}
		b := new(block)
		blocks = append(blocks, b)
		work <- job{b, buf[:cut], buf}
		if eof || failed.Load() {
			break
		}
		buf = next
	}
	close(work)
	wg.Wait()

	line := 0
	for _, b := range blocks {
		if b.msg != "" {
			return nil, lineError(source, line+b.lines, b.msg)
		}
		line += b.lines
	}
	if readErr != nil {
		if _, ok := readErr.(*herd.Error); ok {
			return nil, readErr
		}
		return nil, fmt.Errorf("read %s: %w", source, readErr)
	}
	return blocks, nil
}

// sizeHint returns how many bytes r holds, or -1 if it cannot tell.
func sizeHint(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case *os.File:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return -1
}

// scratch is a parsing worker's reusable memory.
type scratch struct {
	names    []byte
	restarts []uint32
}

func (b *block) parse(data []byte, sc *scratch) {
	lines := bytes.Count(data, []byte{'\n'}) + 1
	sc.names, sc.restarts = sc.names[:0], sc.restarts[:0]
	var prev []byte
	var l lineFields
	for i := 0; i < len(data); {
		next := len(data)
		j := bytes.IndexByte(data[i:], '\n')
		if j >= 0 {
			next = i + j + 1
		} else {
			j = len(data) - i
		}
		b.lines++
		skip, msg := parseLine(data[i:i+j], &l)
		if msg != "" {
			b.msg = msg
			return
		}
		if !skip {
			if b.recs[l.kind] == nil {
				b.recs[l.kind] = make([]rec, 0, lines-b.lines+1)
			}
			b.recs[l.kind] = append(b.recs[l.kind], rec{h: l.h, size: l.size, name: uint32(b.count)})
			shared := 0
			if b.count%restartEvery == 0 {
				sc.restarts = append(sc.restarts, uint32(len(sc.names)))
			} else {
				shared = commonPrefix(prev, l.name)
			}
			sc.names = append(sc.names, byte(shared), byte(len(l.name)-shared))
			sc.names = append(sc.names, l.name[shared:]...)
			prev = l.name
			b.count++
		}
		i = next
	}
	if b.count == 0 {
		return
	}
	nr := len(sc.restarts)
	b.names = make([]byte, 4+4*nr+len(sc.names))
	binary.LittleEndian.PutUint32(b.names, uint32(nr))
	for k, off := range sc.restarts {
		binary.LittleEndian.PutUint32(b.names[4+4*k:], off)
	}
	copy(b.names[4+4*nr:], sc.names)
}

// parallel calls f(0), …, f(n-1) concurrently and waits for them.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// buildSegment indexes the n signatures of one kind found in blocks.
func buildSegment(kind, n int, blocks []*block) *segment {
	p := 0
	switch {
	case n >= 1<<18:
		p = 2 // a 256 KiB bucket table: at most 1 byte per signature
	case n >= 1<<10:
		p = 1
	}
	hl := hashLens[kind]
	s := &segment{prefix: p, keyLen: hl - p, stride: hl - p + 8}
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

	// Each worker counts, then places, the records of its own run of
	// blocks. Its entries go after those of earlier workers in each bucket,
	// so no two workers write the same place.
	workers := min(runtime.GOMAXPROCS(0), len(blocks))
	if n < 1<<14 {
		workers = 1
	}
	mine := func(w int) []*block {
		return blocks[w*len(blocks)/workers : (w+1)*len(blocks)/workers]
	}
	hist := make([][]uint32, workers)
	parallel(workers, func(w int) {
		hist[w] = make([]uint32, nb)
		for _, b := range mine(w) {
			for i := range b.recs[kind] {
				hist[w][bucket(&b.recs[kind][i].h)]++
			}
		}
	})
	s.buckets = make([]uint32, nb+1)
	for b := range nb {
		at := s.buckets[b]
		for w := range workers {
			at, hist[w][b] = at+hist[w][b], at // hist becomes each worker's next place
		}
		s.buckets[b+1] = at
	}
	s.entries = make([]byte, n*s.stride)
	parallel(workers, func(w int) {
		next := hist[w]
		for _, b := range mine(w) {
			for i := range b.recs[kind] {
				r := &b.recs[kind][i]
				k := bucket(&r.h)
				e := s.entries[int(next[k])*s.stride:][:s.stride]
				next[k]++
				copy(e, r.h[p:hl])
				binary.LittleEndian.PutUint32(e[s.keyLen:], r.size)
				binary.LittleEndian.PutUint32(e[s.keyLen+4:], uint32(b.base)+r.name)
			}
		}
	})

	// Sort the buckets, each worker a run of them holding about n/workers
	// entries.
	parallel(workers, func(w int) {
		lo := bucketAt(s.buckets, n*w/workers)
		hi := bucketAt(s.buckets, n*(w+1)/workers)
		if w == workers-1 {
			hi = nb
		}
		for b := lo; b < hi; b++ {
			sortEntries(s.entries[int(s.buckets[b])*s.stride:int(s.buckets[b+1])*s.stride], s.stride, s.keyLen)
		}
	})
	return s
}

// bucketAt returns the first bucket that starts at or after entry i.
func bucketAt(buckets []uint32, i int) int {
	return sort.Search(len(buckets)-1, func(b int) bool { return int(buckets[b]) >= i })
}

// sortEntries sorts entries of stride bytes by their first keyLen bytes.
// Buckets are small and insertion sort is fastest on them; a large bucket,
// which only a crafted file has, gets an O(n log n) sort.
func sortEntries(e []byte, stride, keyLen int) {
	n := len(e) / stride
	if n > 32 {
		sort.Sort(&flat{e, stride, keyLen, make([]byte, stride)})
		return
	}
	var tmp [32 + 8]byte
	for i := 1; i < n; i++ {
		cur := e[i*stride : (i+1)*stride]
		if bytes.Compare(e[(i-1)*stride:(i-1)*stride+keyLen], cur[:keyLen]) <= 0 {
			continue
		}
		copy(tmp[:], cur)
		j := i - 1
		for j > 0 && bytes.Compare(e[(j-1)*stride:(j-1)*stride+keyLen], tmp[:keyLen]) > 0 {
			j--
		}
		copy(e[(j+1)*stride:], e[j*stride:i*stride])
		copy(e[j*stride:], tmp[:stride])
	}
}

// flat sorts entries of stride bytes held in one slice.
type flat struct {
	e              []byte
	stride, keyLen int
	tmp            []byte
}

func (f *flat) Len() int { return len(f.e) / f.stride }
func (f *flat) Less(i, j int) bool {
	return bytes.Compare(f.e[i*f.stride:i*f.stride+f.keyLen], f.e[j*f.stride:j*f.stride+f.keyLen]) < 0
}
func (f *flat) Swap(i, j int) {
	a, b := f.e[i*f.stride:(i+1)*f.stride], f.e[j*f.stride:(j+1)*f.stride]
	copy(f.tmp, a)
	copy(a, b)
	copy(b, f.tmp)
}

// commonPrefix returns how many leading bytes a and b share.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}
