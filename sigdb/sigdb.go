// Package sigdb loads ClamAV hash signature databases (.hdb, .hsb) into a
// compact in-memory index that answers "is this file known malware?" from its
// digests.
package sigdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"

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
// The index is laid out for memory, since a ClamAV main.hsb has millions of
// lines and agents run on small machines. Each Load adds, per hash kind, one
// sorted array of fixed-size entries in a single allocation, found through
// a bucket table on the leading hash bytes (which entries therefore omit),
// and the file's names, front-coded in file order, where neighbouring
// names of a signature file share long prefixes. The bulk of it holds no
// pointer, so the garbage collector does not scan it.
type DB struct {
	segs [numKinds][]segment // one per Load that had signatures of the kind
	n    int
}

// segment indexes the signatures of one kind from one Load.
type segment struct {
	prefix int // leading hash bytes that select a bucket (0, 1 or 2), not stored in entries
	keyLen int // hash bytes stored per entry
	stride int // keyLen + 4 bytes of size + 4 bytes of name number
	// entries is sorted by key; each is the key, then the size as
	// little-endian uint32 (anySize: any), then the number of the
	// signature's name in names as little-endian uint32.
	entries []byte
	buckets []uint32 // entries of bucket b are [buckets[b], buckets[b+1])
	names   *names   // shared by the segments of one Load
}

// names holds the names of one loaded file in file order, numbered from 0,
// in the blocks Load parsed them in. A block is a run of names stored as:
// the number of restart points (uint32), their offsets (uint32 each,
// little-endian, from the end of the offsets), then each name as the number
// of bytes it shares with the previous name, the length of the rest, and
// the rest. Every restartEvery'th name of a block shares nothing, so any
// name is decoded from at most restartEvery records.
type names struct {
	bases  []uint32 // number of the first name of each block, increasing
	blocks [][]byte
}

// restartEvery trades decoding time on a hit (rare) for 4 bytes of restart
// offset per that many signatures.
const restartEvery = 16

// New returns an empty DB.
func New() *DB { return &DB{} }

// Builtin returns a DB holding the EICAR test signature (by SHA-256), so
// that a scanner with no database still proves it works.
func Builtin() *DB {
	var b strings.Builder
	// SHA-256 identifies EICAR on its own; carrying its MD5 and SHA-1 forms
	// here would make every scan compute those hashes for nothing. The
	// cloud's built-in verdicts keep all three.
	for _, r := range herd.BuiltinRecords() {
		if r.Object.Kind == herd.KindSHA256 {
			fmt.Fprintf(&b, "%s:*:%s\n", r.Object.Value, r.Threat)
		}
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
		if bytes.Compare(s.entries[m*s.stride:m*s.stride+s.keyLen], key) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for i := lo; i < end; i++ {
		e := s.entries[i*s.stride : (i+1)*s.stride]
		if !bytes.Equal(e[:s.keyLen], key) {
			break
		}
		sz := binary.LittleEndian.Uint32(e[s.keyLen:])
		if sz == anySize || int64(sz) == size {
			return s.names.name(int(binary.LittleEndian.Uint32(e[s.keyLen+4:]))), true
		}
	}
	return "", false
}

func (n *names) name(i int) string {
	k, found := slices.BinarySearch(n.bases, uint32(i))
	if !found {
		k-- // the last block starting before i
	}
	i -= int(n.bases[k])
	b := n.blocks[k]
	nr := int(binary.LittleEndian.Uint32(b))
	off := 4 + 4*nr + int(binary.LittleEndian.Uint32(b[4+4*(i/restartEvery):]))
	var buf [maxName]byte
	for j := i - i%restartEvery; ; j++ {
		shared, l := int(b[off]), int(b[off+1])
		copy(buf[shared:], b[off+2:off+2+l])
		off += 2 + l
		if j == i {
			return string(buf[:shared+l])
		}
	}
}

// LoadFile adds the signatures of the file at path, as Load does, naming
// the file by path in errors.
func (db *DB) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return db.Load(f, path)
}
