// Package pseudonym turns device ids into keyed, rotating pseudonyms, so that
// stored telemetry never carries a device id.
//
// # What it protects, and from whom
//
// Telemetry is stored under PRF(key_epoch, device_id) instead of the device
// id, where PRF is HMAC-SHA256 truncated to 128 bits and key_epoch is the key
// of the current rotation epoch (30 days by default). Whoever reads the
// telemetry store — an analyst, a support engineer, an attacker holding the
// disk or a JetStream backup — sees only pseudonyms. Without the key they can
// neither link a pseudonym to a device (the PRF is one-way and keyed: guessing
// device ids does not help), nor link one epoch's pseudonym of a device to the
// next epoch's (the keys are independent), so a device's history cannot be
// followed across rotations.
//
// The keys therefore live apart from telemetry: in a file of their own, mode
// 0600 in a directory of mode 0700, never in JetStream. Linking a pseudonym
// back to a device takes both this key file and the list of device ids, which
// only the identity service holds. When a key is dropped (Config.Keep), every
// pseudonym made under it becomes unlinkable for good, even for the cloud:
// data older than the kept keys is effectively anonymous.
//
// Some lookups must survive rotation (the latest consent record of a device,
// for instance): Stable gives a non-rotating pseudonym per purpose, under a
// separate key that never rotates. It links a device's records across epochs
// by design, so use it only for records that need it.
//
// # File format
//
// One JSON file holds everything (see file.go):
//
//	{"format": "herd-pseudonym-keyring-v1",
//	 "rotating_keyset": <Tink cleartext JSON keyset of HMAC-SHA256 PRF keys>,
//	 "created": {"<key id>": "<RFC 3339 time>", ...},
//	 "stable_keyset": <Tink cleartext JSON keyset with one HMAC-SHA256 PRF key>}
package pseudonym

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"

	"github.com/herdsec/herd"
)

// Defaults of Config.
const (
	DefaultPeriod = 30 * 24 * time.Hour
	DefaultKeep   = 2
)

// Size is the length in bytes of a pseudonym's PRF output (128 bits), so a
// pseudonym string is 2*Size lowercase hex characters.
const Size = 16

// Domain-separation prefixes of the PRF inputs. A version bump changes every
// pseudonym, so they change only with a deliberate migration.
const (
	deviceDomain = "herd-device-v1\x00"
	stableDomain = "herd-stable-v1\x00"
)

// Config says where the keys live and how they rotate.
type Config struct {
	// Path is the keyset file. It is created, with its directory, if missing.
	Path string
	// Period is how long a key stays the current one; 0 means DefaultPeriod.
	Period time.Duration
	// Keep is how many past keys are kept besides the current one; 0 means
	// DefaultKeep. Keep*Period must cover the telemetry retention, or data
	// still stored can no longer be found for deletion (All).
	Keep int
}

func (c Config) withDefaults() (Config, error) {
	if c.Path == "" {
		return c, herd.Errorf(herd.EINVALID, "pseudonym: config: path is empty")
	}
	if c.Period < 0 {
		return c, herd.Errorf(herd.EINVALID, "pseudonym: config: period = %v: must be > 0", c.Period)
	}
	if c.Keep < 0 {
		return c, herd.Errorf(herd.EINVALID, "pseudonym: config: keep = %d: must be >= 0", c.Keep)
	}
	if c.Period == 0 {
		c.Period = DefaultPeriod
	}
	if c.Keep == 0 {
		c.Keep = DefaultKeep
	}
	return c, nil
}

// Keyring computes device pseudonyms. It is safe for concurrent use: lookups
// never wait for a rotation in progress; they see the old or the new keys.
//
// Like upspin's Factotum, it never hands out key material: only PRF outputs
// leave it.
type Keyring struct {
	cfg Config
	mu  sync.Mutex // serializes Rotate (and so writes of the file)
	cur atomic.Pointer[state]
}

// state is one immutable generation of the keys.
type state struct {
	rotating *keyset.Handle
	prfs     *prf.Set
	order    []uint32             // rotating key ids: primary first, then newest to oldest
	created  map[uint32]time.Time // creation time of each rotating key
	stable   *keyset.Handle
	stablePR prf.PRF
}

// Open loads the keyset file at cfg.Path, or creates it with fresh keys if it
// does not exist, then rotates if the current key is older than cfg.Period
// at now. It refuses a file that group or others may read or write.
func Open(cfg Config, now time.Time) (*Keyring, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s, err := load(cfg.Path)
	if err != nil {
		return nil, err
	}
	if s == nil {
		if s, err = newState(now); err != nil {
			return nil, err
		}
		if err := save(cfg.Path, s); err != nil {
			return nil, err
		}
	}
	k := &Keyring{cfg: cfg}
	k.cur.Store(s)
	if _, err := k.Rotate(now); err != nil {
		return nil, err
	}
	return k, nil
}

// Pseudonym returns the pseudonym of deviceID under the current key: 32
// lowercase hex characters. Epoch says which key that is.
func (k *Keyring) Pseudonym(deviceID string) string {
	s := k.cur.Load()
	return s.pseudonym(s.order[0], deviceID)
}

// Current returns the pseudonym of deviceID under the current key together
// with that key's creation time, consistently even during a rotation.
func (k *Keyring) Current(deviceID string) (pseudonym string, epoch time.Time) {
	s := k.cur.Load()
	return s.pseudonym(s.order[0], deviceID), s.created[s.order[0]]
}

// Epoch returns the creation time of the current key.
func (k *Keyring) Epoch() time.Time {
	s := k.cur.Load()
	return s.created[s.order[0]]
}

// All returns the pseudonyms of deviceID under every kept key, current first,
// in the order of Epochs: what the cloud searches when it must find or delete
// everything stored about a device.
func (k *Keyring) All(deviceID string) []string {
	s := k.cur.Load()
	out := make([]string, len(s.order))
	for i, id := range s.order {
		out[i] = s.pseudonym(id, deviceID)
	}
	return out
}

// Epochs returns the creation time of each kept key, current first.
func (k *Keyring) Epochs() []time.Time {
	s := k.cur.Load()
	out := make([]time.Time, len(s.order))
	for i, id := range s.order {
		out[i] = s.created[id]
	}
	return out
}

// Stable returns a pseudonym of deviceID that does not rotate, for one
// purpose (such as "consent"). Pseudonyms of different purposes are
// unrelated: each purpose behaves as if it had its own key. The PRF input is
// the stable domain, the length of purpose, purpose, then deviceID, so no two
// (purpose, deviceID) pairs share an input.
func (k *Keyring) Stable(purpose, deviceID string) string {
	s := k.cur.Load()
	in := make([]byte, 0, len(stableDomain)+binary.MaxVarintLen64+len(purpose)+len(deviceID))
	in = append(in, stableDomain...)
	in = binary.AppendUvarint(in, uint64(len(purpose)))
	in = append(in, purpose...)
	in = append(in, deviceID...)
	return compute(s.stablePR, in)
}

// Rotate makes a fresh key current if the current one is older than
// Config.Period at now, drops the oldest keys beyond Config.Keep, and writes
// the file atomically before the new keys are used. It reports whether a new
// key was made. On error the keys in use are unchanged.
func (k *Keyring) Rotate(now time.Time) (rotated bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.cur.Load()
	due := now.Sub(s.created[s.order[0]]) >= k.cfg.Period
	excess := len(s.order) > k.cfg.Keep+1
	if !due && !excess {
		return false, nil
	}
	m := keyset.NewManagerFromHandle(s.rotating)
	order := slices.Clone(s.order)
	created := make(map[uint32]time.Time, len(order)+1)
	for _, id := range order {
		created[id] = s.created[id]
	}
	if due {
		id, err := m.Add(prf.HMACSHA256PRFKeyTemplate())
		if err != nil {
			return false, fmt.Errorf("pseudonym: rotate: add key: %w", err)
		}
		if err := m.SetPrimary(id); err != nil {
			return false, fmt.Errorf("pseudonym: rotate: set primary: %w", err)
		}
		order = slices.Insert(order, 0, id)
		created[id] = now.UTC()
	}
	for _, id := range order[min(len(order), k.cfg.Keep+1):] {
		if err := m.Delete(id); err != nil {
			return false, fmt.Errorf("pseudonym: rotate: drop key %d: %w", id, err)
		}
		delete(created, id)
	}
	h, err := m.Handle()
	if err != nil {
		return false, fmt.Errorf("pseudonym: rotate: %w", err)
	}
	next, err := build(h, created, s.stable)
	if err != nil {
		return false, fmt.Errorf("pseudonym: rotate: %w", err)
	}
	if err := save(k.cfg.Path, next); err != nil {
		return false, err
	}
	k.cur.Store(next)
	return due, nil
}

// newState makes a keyring with one rotating key, created at now, and the
// stable key.
func newState(now time.Time) (*state, error) {
	rot, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("pseudonym: new key: %w", err)
	}
	stable, err := keyset.NewHandle(prf.HMACSHA256PRFKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("pseudonym: new stable key: %w", err)
	}
	created := map[uint32]time.Time{rot.KeysetInfo().GetPrimaryKeyId(): now.UTC()}
	return build(rot, created, stable)
}

// build checks the keys and readies them for use. Every key must be an
// enabled HMAC-SHA256 PRF key of at least 256 bits; every rotating key must
// have a creation time, and only they.
func build(rot *keyset.Handle, created map[uint32]time.Time, stable *keyset.Handle) (*state, error) {
	if err := checkKeys(rot); err != nil {
		return nil, fmt.Errorf("rotating_keyset: %w", err)
	}
	if err := checkKeys(stable); err != nil {
		return nil, fmt.Errorf("stable_keyset: %w", err)
	}
	if n := stable.Len(); n != 1 {
		return nil, fmt.Errorf("stable_keyset: has %d keys, want 1", n)
	}
	prfs, err := prf.NewPRFSet(rot)
	if err != nil {
		return nil, fmt.Errorf("rotating_keyset: %w", err)
	}
	stablePRFs, err := prf.NewPRFSet(stable)
	if err != nil {
		return nil, fmt.Errorf("stable_keyset: %w", err)
	}
	s := &state{
		rotating: rot,
		prfs:     prfs,
		created:  created,
		stable:   stable,
		stablePR: stablePRFs.PRFs[stablePRFs.PrimaryID],
	}
	if s.stablePR == nil {
		return nil, fmt.Errorf("stable_keyset: no primary key")
	}
	primary := prfs.PrimaryID
	if _, ok := prfs.PRFs[primary]; !ok {
		return nil, fmt.Errorf("rotating_keyset: no primary key")
	}
	for id := range prfs.PRFs {
		t, ok := created[id]
		if !ok {
			return nil, fmt.Errorf("created: no time for key %d", id)
		}
		if t.IsZero() {
			return nil, fmt.Errorf("created: key %d: zero time", id)
		}
		if id != primary {
			s.order = append(s.order, id)
		}
	}
	for id := range created {
		if _, ok := prfs.PRFs[id]; !ok {
			return nil, fmt.Errorf("created: key %d is not in rotating_keyset", id)
		}
	}
	slices.SortFunc(s.order, func(a, b uint32) int {
		if c := created[b].Compare(created[a]); c != 0 {
			return c // newest first
		}
		return cmp.Compare(a, b)
	})
	s.order = slices.Insert(s.order, 0, primary)
	// Compute once, so that a PRF that cannot produce our output fails here
	// rather than in Pseudonym, which has no error to return.
	for _, id := range s.order {
		if _, err := s.prfs.PRFs[id].ComputePRF([]byte(deviceDomain), Size); err != nil {
			return nil, fmt.Errorf("rotating_keyset: key %d: %w", id, err)
		}
	}
	if _, err := s.stablePR.ComputePRF([]byte(stableDomain), Size); err != nil {
		return nil, fmt.Errorf("stable_keyset: %w", err)
	}
	return s, nil
}

func (s *state) pseudonym(keyID uint32, deviceID string) string {
	in := make([]byte, 0, len(deviceDomain)+len(deviceID))
	in = append(in, deviceDomain...)
	in = append(in, deviceID...)
	return compute(s.prfs.PRFs[keyID], in)
}

// compute returns the hex PRF output of in. build has checked that every key
// computes Size-byte outputs, so an error here is a broken invariant: it
// panics rather than return a pseudonym shared by all devices.
func compute(p prf.PRF, in []byte) string {
	out, err := p.ComputePRF(in, Size)
	if err != nil {
		panic("pseudonym: PRF failed after passing its check: " + err.Error())
	}
	return hex.EncodeToString(out)
}
