// Package filter holds the offline filter of malicious file hashes: a compact
// snapshot of every malicious SHA-256 the cloud knows, plus small deltas, so
// an agent that has lost its connection still recognises every malicious hash
// known at its last sync.
//
// A hit is only a "maybe": the agent confirms it with the cloud when online.
// False positives are therefore acceptable and bounded (about 1/256 = 0.39%
// per filter consulted, see [FalsePositiveRate]); false negatives are not, and
// there are none: every hash a snapshot or delta was built over is contained,
// which [Build] and [BuildDelta] check before they return.
//
// What it protects against, and what it does not: the filter is public threat
// data (anyone holding it can test a hash for membership), so it carries no
// secret. Decoding rejects anything malformed or corrupted (a CRC-32C covers
// every byte), because a silently damaged filter would be a false negative.
// It does not authenticate its origin: snapshots and deltas must arrive over
// the authenticated agent API. A false positive makes an online agent ask the
// cloud about a benign file's hash, so about 0.4% of benign hashes checked
// against the filter are disclosed to the cloud that way.
package filter

import (
	"encoding/binary"

	"github.com/FastFilter/xorfilter"
)

// Key returns the filter key of a SHA-256 digest: its first 8 bytes read as
// a big-endian uint64, so the key printed in hex is the first 16 hex digits
// of the digest. SHA-256 output is uniform, so these 64 bits are as good a
// key as the whole digest; two distinct malicious digests sharing them only
// merge into one key, which can never cause a false negative.
func Key(sha256 [32]byte) uint64 {
	return binary.BigEndian.Uint64(sha256[:8])
}

// fingerprintFPR is the false-positive rate of one 8-bit binary fuse filter:
// a non-member matches when its 8-bit fingerprint equals the XOR of three
// slots, which happens with probability 2⁻⁸.
const fingerprintFPR = 1.0 / 256

// FalsePositiveRate returns the expected rate at which a hash not in the set
// is reported as contained when filters filters are consulted (a snapshot
// plus filters-1 deltas): 1 − (1 − 2⁻⁸)^filters. Empty filters match nothing
// and should not be counted.
func FalsePositiveRate(filters int) float64 {
	p := 1.0
	for range filters {
		p *= 1 - fingerprintFPR
	}
	return 1 - p
}

// fuse is one binary fuse filter with 8-bit fingerprints over a set of
// distinct keys; f is nil when the set is empty, which matches nothing (an
// empty library filter would match 1/256 of all keys).
type fuse struct {
	keys uint64 // distinct keys the filter was built over
	f    *xorfilter.BinaryFuse8
}

func (x *fuse) contains(key uint64) bool {
	return x.f != nil && x.f.Contains(key)
}
