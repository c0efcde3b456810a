package reputation

import (
	"encoding/binary"
	"encoding/hex"

	"github.com/herdsec/herd"
)

var _ MaliciousSource = (*Index)(nil)

// EachMalicious calls fn with every stored hash of kind whose verdict is
// malicious, in hash order, under the read lock: fn must be quick and must
// not keep the slice. Built-in test verdicts are left out (agents carry
// them), and so are hashes not spelt canonically (the cloud stores
// normalized objects).
func (x *Index) EachMalicious(kind herd.Kind, fn func(hash []byte)) {
	t := x.table(kind)
	if t == nil {
		return
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	t.scan(0, ^uint64(0), func(e []byte) {
		meta := binary.LittleEndian.Uint32(e[t.klen+8:])
		v := metaVerdict(meta)
		if v == spilled {
			o := herd.Object{Kind: kind, Value: hex.EncodeToString(e[:t.klen])}
			if x.spill[o].Verdict != herd.VerdictMalicious {
				return
			}
		} else if verdictCodes[v] != herd.VerdictMalicious {
			return
		}
		fn(e[:t.klen])
	})
}
