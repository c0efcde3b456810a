package state

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/herdsec/herd"
)

// The outbox is bounded: the events it holds take at most the limit in
// bytes (as stored). When an event does not fit, room is made by dropping
// the oldest events of the lowest-priority categories first, then older
// events of the new event's own category; if the outbox is full of events
// that matter more, the new event is the one dropped. Threat reports are
// never dropped to make room, and are queued even when that takes the
// outbox over its limit: losing one would hide an attack from the fleet.
// Every drop is counted per category (Dropped).

// DefaultOutboxLimit is the outbox's default bound: 64 MiB.
const DefaultOutboxLimit = 64 << 20

// DropOrder lists the categories the outbox drops first when it is full,
// least important first. Threat reports are not in it: they are never
// dropped.
var DropOrder = []herd.Category{
	herd.CategoryOperation, herd.CategoryWeb, herd.CategoryWiFi, herd.CategoryApps,
	herd.CategoryDevice, herd.CategoryOSEvents, herd.CategoryLicense, herd.CategorySuspicious,
}

var bucketOutboxIndex = []byte("outbox_index") // category → (seq → stored size)

const (
	keyOutboxBytes   = "outbox.bytes"
	keyOutboxIndexed = "outbox.indexed"
	keyDroppedPrefix = "outbox.dropped."
	unknownCategory  = "?" // index bucket of entries whose category does not decode
)

// SetOutboxLimit sets the outbox's bound in bytes (<= 0: DefaultOutboxLimit).
// A smaller bound applies to the next events queued.
func (s *Store) SetOutboxLimit(n int64) {
	if n <= 0 {
		n = DefaultOutboxLimit
	}
	s.maxOutbox.Store(n)
}

// priority ranks a category for the outbox: a higher one is kept longer;
// threats rank highest.
func priority(c herd.Category) int {
	if i := slices.Index(DropOrder, c); i >= 0 {
		return i
	}
	if c == herd.CategoryThreats {
		return len(DropOrder) + 1
	}
	return -1 // unknown categories go first
}

// Queued is an event waiting in the outbox.
type Queued struct {
	Seq uint64
	herd.Event
}

// Enqueue appends events to the outbox, atomically, making room as the
// bound requires (see DefaultOutboxLimit). It returns how many events were
// dropped, queued ones or the given ones, to keep the outbox in its bound.
func (s *Store) Enqueue(events []herd.Event) (dropped int, err error) {
	limit := s.maxOutbox.Load()
	err = s.db.Update(func(tx *bolt.Tx) error {
		dropped = 0
		b := tx.Bucket(bucketOutbox)
		meta := tx.Bucket(bucketMeta)
		total := getUint(meta, keyOutboxBytes)
		for _, ev := range events {
			v, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			size := uint64(len(v))
			if total+size > uint64(limit) {
				freed, n, err := makeRoom(tx, ev.Category, total+size-uint64(limit))
				if err != nil {
					return err
				}
				total -= freed
				dropped += n
				if total+size > uint64(limit) && ev.Category != herd.CategoryThreats {
					dropped++
					if err := countDrop(meta, ev.Category, 1); err != nil {
						return err
					}
					continue
				}
			}
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(seq), v); err != nil {
				return err
			}
			if err := index(tx, string(ev.Category), seq, size); err != nil {
				return err
			}
			total += size
		}
		return putUint(meta, keyOutboxBytes, total)
	})
	if err != nil {
		return 0, err
	}
	return dropped, nil
}

// makeRoom deletes the oldest queued events of categories that rank below
// c, lowest first, then of c itself, until need bytes are freed. If that
// cannot free enough, it deletes nothing (the new event is the one to go),
// except for a threat report, which is queued anyway: then everything below
// it goes. It returns the bytes freed and the events deleted.
func makeRoom(tx *bolt.Tx, c herd.Category, need uint64) (freed uint64, n int, err error) {
	order := append([]herd.Category{unknownCategory}, DropOrder...)
	idx := tx.Bucket(bucketOutboxIndex)
	type victim struct {
		cat herd.Category
		key []byte
	}
	var victims []victim
	for _, d := range order {
		if priority(d) > priority(c) || freed >= need {
			break
		}
		cb := idx.Bucket([]byte(d))
		if cb == nil {
			continue
		}
		cur := cb.Cursor()
		for k, v := cur.First(); k != nil && freed < need; k, v = cur.Next() {
			victims = append(victims, victim{d, append([]byte(nil), k...)})
			freed += uint64(binary.BigEndian.Uint32(v))
		}
	}
	if freed < need && c != herd.CategoryThreats {
		return 0, 0, nil
	}
	meta := tx.Bucket(bucketMeta)
	for _, v := range victims {
		if err := tx.Bucket(bucketOutbox).Delete(v.key); err != nil {
			return 0, 0, err
		}
		if err := idx.Bucket([]byte(v.cat)).Delete(v.key); err != nil {
			return 0, 0, err
		}
		if err := countDrop(meta, v.cat, 1); err != nil {
			return 0, 0, err
		}
	}
	return freed, len(victims), nil
}

// Dropped returns how many events of each category the outbox dropped to
// stay in its bound, since the state was created.
func (s *Store) Dropped() (map[herd.Category]uint64, error) {
	out := map[herd.Category]uint64{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMeta).Cursor()
		p := []byte(keyDroppedPrefix)
		for k, v := c.Seek(p); k != nil && len(k) > len(p) && string(k[:len(p)]) == keyDroppedPrefix; k, v = c.Next() {
			if len(v) == 8 {
				out[herd.Category(k[len(p):])] = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	return out, err
}

// OutboxBytes returns the bytes the queued events take.
func (s *Store) OutboxBytes() (uint64, error) {
	var n uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		n = getUint(tx.Bucket(bucketMeta), keyOutboxBytes)
		return nil
	})
	return n, err
}

// Pending returns up to limit queued events, oldest first (limit <= 0: all).
func (s *Store) Pending(limit int) ([]Queued, error) {
	var out []Queued
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			var q Queued
			if err := json.Unmarshal(v, &q.Event); err != nil {
				return fmt.Errorf("outbox entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			q.Seq = binary.BigEndian.Uint64(k)
			out = append(out, q)
		}
		return nil
	})
	return out, err
}

// Remove deletes delivered events from the outbox.
func (s *Store) Remove(seqs []uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		for _, seq := range seqs {
			if err := removeEntry(tx, seqKey(seq), b.Get(seqKey(seq))); err != nil {
				return err
			}
		}
		return nil
	})
}

// Purge deletes every queued event whose category keep does not accept,
// and returns how many it deleted. Used when consent is withdrawn: nothing
// of a category switched off may leave the device later.
func (s *Store) Purge(keep func(herd.Category) bool) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		var gone [][2][]byte
		err := tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			var ev struct {
				Category herd.Category `json:"category"`
			}
			if err := json.Unmarshal(v, &ev); err != nil || !keep(ev.Category) {
				gone = append(gone, [2][]byte{append([]byte(nil), k...), append([]byte(nil), v...)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range gone {
			if err := removeEntry(tx, e[0], e[1]); err != nil {
				return err
			}
		}
		n = len(gone)
		return nil
	})
	return n, err
}

// removeEntry deletes one outbox entry (key k, stored value v; nil if it
// is gone already) with its index entry and size.
func removeEntry(tx *bolt.Tx, k, v []byte) error {
	if v == nil {
		return nil
	}
	if err := tx.Bucket(bucketOutbox).Delete(k); err != nil {
		return err
	}
	if cb := tx.Bucket(bucketOutboxIndex).Bucket([]byte(categoryOf(v))); cb != nil {
		if err := cb.Delete(k); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	total := getUint(meta, keyOutboxBytes)
	return putUint(meta, keyOutboxBytes, total-min(total, uint64(len(v))))
}

// categoryOf returns the index bucket name of a stored event.
func categoryOf(v []byte) string {
	var ev struct {
		Category herd.Category `json:"category"`
	}
	if json.Unmarshal(v, &ev) != nil || ev.Category == "" {
		return unknownCategory
	}
	return string(ev.Category)
}

func index(tx *bolt.Tx, category string, seq, size uint64) error {
	if category == "" {
		category = unknownCategory
	}
	cb, err := tx.Bucket(bucketOutboxIndex).CreateBucketIfNotExists([]byte(category))
	if err != nil {
		return err
	}
	return cb.Put(seqKey(seq), binary.BigEndian.AppendUint32(nil, uint32(size)))
}

// reindexOutbox builds the category index and byte count of an outbox
// written before they existed; once done, it is a no-op.
func reindexOutbox(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get([]byte(keyOutboxIndexed)) != nil {
		return nil
	}
	var total uint64
	err := tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		total += uint64(len(v))
		return index(tx, categoryOf(v), binary.BigEndian.Uint64(k), uint64(len(v)))
	})
	if err != nil {
		return err
	}
	if err := putUint(meta, keyOutboxBytes, total); err != nil {
		return err
	}
	return meta.Put([]byte(keyOutboxIndexed), []byte{1})
}

func countDrop(meta *bolt.Bucket, c herd.Category, n int) error {
	if n == 0 {
		return nil
	}
	k := keyDroppedPrefix + string(c)
	return putUint(meta, k, getUint(meta, k)+uint64(n))
}

func getUint(b *bolt.Bucket, key string) uint64 {
	if v := b.Get([]byte(key)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func putUint(b *bolt.Bucket, key string, n uint64) error {
	return b.Put([]byte(key), binary.BigEndian.AppendUint64(nil, n))
}
