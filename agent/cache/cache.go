// Package cache keeps the cloud's verdicts on the agent: a bounded cache on
// disk in front of a herd.ReputationService, each answer kept for the TTL
// the cloud gave it, and kept current by the cloud's verdict stream.
//
// The cache lives in its own bbolt file in the agent's state folder
// (FileName), not in the state file: `herd follow` writes it for hours
// while `herd scan` reads it, and bbolt lets one process at a time hold a
// file. So the file is opened for each transaction and closed right after;
// the state file, which a scan holds for its whole run, stays out of the
// way. A scan, which looks up batch after batch, may keep the file open
// between transactions (Options.KeepOpen): reopening costs little, but
// every page read afterwards is mapped afresh, which makes a batch of cached
// answers some twenty times slower. Losing the file loses nothing but
// speed: deleting it is always safe.
package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/herdsec/herd"
)

// FileName is the cache's file inside the agent's state folder.
const FileName = "cache.db"

// Limits and defaults.
const (
	// DefaultMaxEntries bounds the cache: about 100 bytes on disk each,
	// so 1,000,000 entries are some 100 MB. Past it, the entries that
	// expire first are evicted first.
	DefaultMaxEntries = 1_000_000
	// MaxNegativeTTL caps how long an unknown answer is kept, whatever the
	// cloud says: a file new to the cloud may be judged within hours.
	MaxNegativeTTL = 24 * time.Hour
	// MaxPositiveTTL caps how long a known verdict is kept without the
	// stream confirming it, whatever the cloud says.
	MaxPositiveTTL = 7 * 24 * time.Hour
	// DefaultPositiveTTL is how long a pushed change is kept before any
	// lookup has told the cache the cloud's positive TTL.
	DefaultPositiveTTL = time.Hour
	// DefaultLockTimeout is how long a transaction waits for another herd
	// process to release the file.
	DefaultLockTimeout = 10 * time.Second
	// pruneBatch bounds the expired entries one write removes.
	pruneBatch = 1000
)

// formatVersion is the cache file's layout version; a file of another
// version is emptied on Open, as it is only a cache.
const formatVersion = "1"

var (
	bucketEntries = []byte("entries") // "kind:value" → entry
	bucketExpiry  = []byte("expiry")  // expiry (8 bytes, Unix ns) + "kind:value" → nothing
	bucketMeta    = []byte("meta")

	keyVersion     = []byte("version")
	keyCloud       = []byte("cloud")        // the cloud the entries came from
	keyCount       = []byte("count")        // entries held (8 bytes)
	keySeq         = []byte("seq")          // the last stream change applied (8 bytes)
	keyPositiveTTL = []byte("positive_ttl") // the cloud's last positive TTL (8 bytes, ns)
)

// Options configure a cache.
type Options struct {
	// Cloud is the URL of the cloud the answers come from. A cache holding
	// another cloud's answers is emptied on Open: its verdicts and stream
	// position mean nothing to this cloud. Empty: take the cache as it is
	// (offline scans).
	Cloud string
	// MaxEntries bounds the cache; 0 means DefaultMaxEntries.
	MaxEntries int
	// Now returns the current time; nil means time.Now. Tests move it.
	Now func() time.Time
	// LockTimeout: 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// KeepOpen is how long the file stays open after a transaction, to
	// serve the next one without reopening; meanwhile other herd
	// processes wait for it. 0 closes it after each transaction. Close
	// releases it at once.
	KeepOpen time.Duration
}

// Cache is the verdict cache file. It is safe for concurrent use, and for
// use by several processes at once.
type Cache struct {
	path string
	opt  Options

	mu      sync.Mutex // one transaction at a time in this process
	db      *bolt.DB   // open between transactions, with KeepOpen
	lastUse time.Time
	idle    *time.Timer
}

// Answer is a lookup answer to keep, with the time the cloud allows.
type Answer struct {
	Record herd.Record
	TTL    time.Duration // 0 or less: not kept
}

// Open opens (or creates) the cache in dir, created mode 0700.
func Open(dir string, opt Options) (*Cache, error) {
	if opt.MaxEntries <= 0 {
		opt.MaxEntries = DefaultMaxEntries
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.LockTimeout <= 0 {
		opt.LockTimeout = DefaultLockTimeout
	}
	opt.Cloud = strings.TrimRight(opt.Cloud, "/")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	c := &Cache{path: filepath.Join(dir, FileName), opt: opt}
	setup := func(db *bolt.DB) error {
		return db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			version := []byte(nil)
			if meta != nil {
				version = meta.Get(keyVersion)
			}
			if meta == nil || string(version) != formatVersion || (opt.Cloud != "" && string(meta.Get(keyCloud)) != opt.Cloud) {
				return reset(tx, opt.Cloud)
			}
			return nil
		})
	}
	err := c.withDB(setup)
	if errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrVersionMismatch) {
		// A damaged cache is worth nothing: start a new one.
		if rerr := os.Remove(c.path); rerr != nil {
			return nil, fmt.Errorf("cache %s: damaged (%v), and not removed: %w", c.path, err, rerr)
		}
		err = c.withDB(setup)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// reset empties the cache and gives it to cloud.
func reset(tx *bolt.Tx, cloud string) error {
	for _, name := range [][]byte{bucketEntries, bucketExpiry, bucketMeta} {
		if tx.Bucket(name) != nil {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keyVersion, []byte(formatVersion)); err != nil {
		return err
	}
	return meta.Put(keyCloud, []byte(cloud))
}

// withDB runs fn with the file open, opening it if need be. bbolt locks
// it for one process at a time; other herd processes hold it for one
// transaction, or KeepOpen after their last, so waiting is short.
func (c *Cache) withDB(fn func(*bolt.DB) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db == nil {
		db, err := bolt.Open(c.path, 0o600, &bolt.Options{Timeout: c.opt.LockTimeout})
		if errors.Is(err, bolterrors.ErrTimeout) {
			return herd.Errorf(herd.EUNAVAILABLE, "cache %s: held by another herd process for more than %s", c.path, c.opt.LockTimeout)
		}
		if err != nil {
			return fmt.Errorf("cache %s: %w", c.path, err)
		}
		c.db = db
	}
	err := fn(c.db)
	if err != nil || c.opt.KeepOpen <= 0 {
		if cerr := c.closeLocked(); err == nil {
			err = cerr
		}
		return err
	}
	c.lastUse = time.Now()
	if c.idle == nil {
		c.idle = time.AfterFunc(c.opt.KeepOpen, c.closeIdle)
	} else {
		c.idle.Reset(c.opt.KeepOpen)
	}
	return nil
}

// closeIdle closes the file once it has not been used for KeepOpen.
func (c *Cache) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db == nil {
		return
	}
	if wait := c.opt.KeepOpen - time.Since(c.lastUse); wait > 0 {
		c.idle.Reset(wait) // used again while this timer fired
		return
	}
	_ = c.closeLocked()
}

func (c *Cache) closeLocked() error {
	if c.db == nil {
		return nil
	}
	err := c.db.Close()
	c.db = nil
	if err != nil {
		return fmt.Errorf("cache %s: %w", c.path, err)
	}
	return nil
}

// Close releases the file if it is open. The cache may still be used: the
// next transaction opens it again.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle != nil {
		c.idle.Stop()
	}
	return c.closeLocked()
}

// txn is one transaction's view of the buckets.
type txn struct {
	entries, expiry, meta *bolt.Bucket
	now                   time.Time
}

// view and update run fn in a transaction, after checking that the file
// still belongs to this cache's cloud (another process may have given it
// to another cloud since Open).
func (c *Cache) view(fn func(*txn) error) error {
	return c.withDB(func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error { return c.run(tx, fn) })
	})
}

func (c *Cache) update(fn func(*txn) error) error {
	return c.withDB(func(db *bolt.DB) error {
		return db.Update(func(tx *bolt.Tx) error { return c.run(tx, fn) })
	})
}

func (c *Cache) run(tx *bolt.Tx, fn func(*txn) error) error {
	t := &txn{entries: tx.Bucket(bucketEntries), expiry: tx.Bucket(bucketExpiry), meta: tx.Bucket(bucketMeta), now: c.opt.Now()}
	if t.entries == nil || t.expiry == nil || t.meta == nil || string(t.meta.Get(keyVersion)) != formatVersion {
		return herd.Errorf(herd.EUNAVAILABLE, "cache %s: emptied or replaced by another process; open it again", c.path)
	}
	if cloud := string(t.meta.Get(keyCloud)); c.opt.Cloud != "" && cloud != c.opt.Cloud {
		return herd.Errorf(herd.ECONFLICT, "cache %s: now holds the verdicts of %s, not %s", c.path, cloud, c.opt.Cloud)
	}
	return fn(t)
}

// Get returns, for each object, its cached record if it is fresh: found[i]
// says whether recs[i] comes from the cache (else it is unknown). seq is
// the stream position at the time, to hand back to Put.
func (c *Cache) Get(objs []herd.Object) (recs []herd.Record, found []bool, seq uint64, err error) {
	recs = make([]herd.Record, len(objs))
	found = make([]bool, len(objs))
	for i, o := range objs {
		recs[i] = herd.Record{Object: o, Verdict: herd.VerdictUnknown}
	}
	err = c.view(func(t *txn) error {
		seq = t.uint(keySeq)
		for i, o := range objs {
			if e, ok := t.get(objectKey(o)); ok && t.now.Before(e.Expires) {
				recs[i] = e.record(o)
				found[i] = true
			}
		}
		return nil
	})
	return recs, found, seq, err
}

// Put keeps lookup answers, each for its TTL capped at MaxNegativeTTL
// (unknown) or MaxPositiveTTL (known). An entry a stream change wrote
// after position since (from Get, before the lookup was sent) is newer
// than the answer and stays. Past MaxEntries, the entries that expire
// first are evicted.
func (c *Cache) Put(answers []Answer, since uint64) error {
	return c.update(func(t *txn) error {
		if err := t.prune(pruneBatch); err != nil {
			return err
		}
		for _, a := range answers {
			ttl := capTTL(a.Record.Verdict, a.TTL)
			if ttl <= 0 {
				continue
			}
			key := objectKey(a.Record.Object)
			if old, ok := t.get(key); ok && old.Seq > since {
				continue
			}
			e := entry{Verdict: a.Record.Verdict, Threat: a.Record.Threat, Source: a.Record.Source, Test: a.Record.Test, Expires: t.now.Add(ttl)}
			if err := t.put(key, e); herd.ErrorCode(err) == herd.EINVALID {
				continue // an answer the cache cannot hold is not kept
			} else if err != nil {
				return err
			}
			if e.Verdict != herd.VerdictUnknown {
				if err := t.putUint(keyPositiveTTL, uint64(ttl)); err != nil {
					return err
				}
			}
		}
		return t.evict(c.opt.MaxEntries)
	})
}

// capTTL bounds ttl by the cap of v's kind.
func capTTL(v herd.Verdict, ttl time.Duration) time.Duration {
	if v == herd.VerdictUnknown {
		return min(ttl, MaxNegativeTTL)
	}
	return min(ttl, MaxPositiveTTL)
}

// Apply writes verdict stream changes in one transaction and records the
// last one's sequence as the stream position. Only objects the cache holds
// are changed: the cache keeps what this device asked about, and a stream
// followed from its start carries every verdict the cloud has. A deleted
// verdict, or one that is no longer malicious, suspicious or clean, drops
// the entry, so that the next lookup asks the cloud. Apply returns the
// changes that touched an entry.
func (c *Cache) Apply(changes []herd.VerdictChange) (touched []herd.VerdictChange, err error) {
	err = c.update(func(t *txn) error {
		touched = touched[:0]
		seq := t.uint(keySeq)
		ttl := min(time.Duration(t.uint(keyPositiveTTL)), MaxPositiveTTL)
		if ttl <= 0 {
			ttl = DefaultPositiveTTL
		}
		for _, ch := range changes {
			if ch.CaughtUp {
				continue
			}
			seq = max(seq, ch.Seq)
			key := objectKey(ch.Record.Object)
			if _, held := t.get(key); !held {
				continue
			}
			r := ch.Record
			if ch.Deleted || !r.Verdict.Valid() || r.Verdict == herd.VerdictUnknown {
				if err := t.delete(key); err != nil {
					return err
				}
			} else {
				e := entry{Verdict: r.Verdict, Threat: r.Threat, Source: r.Source, Test: r.Test, Expires: t.now.Add(ttl), Seq: ch.Seq}
				if err := t.put(key, e); err != nil {
					// A change the cache cannot hold (a threat name over
					// the limit) must not leave the old verdict answering.
					if err := t.delete(key); err != nil {
						return err
					}
				}
			}
			touched = append(touched, ch)
		}
		return t.putUint(keySeq, seq)
	})
	return touched, err
}

// Seq returns the last stream change applied, 0 if none.
func (c *Cache) Seq() (uint64, error) {
	var seq uint64
	err := c.view(func(t *txn) error { seq = t.uint(keySeq); return nil })
	return seq, err
}

// Stats describes the cache.
type Stats struct {
	Cloud   string
	Entries uint64 // held, fresh or not
	Fresh   uint64 // not expired
	Seq     uint64 // the last stream change applied
}

// Stats counts the cache's entries; it reads every expiry key.
func (c *Cache) Stats() (Stats, error) {
	var s Stats
	err := c.view(func(t *txn) error {
		s.Cloud, s.Entries, s.Seq = string(t.meta.Get(keyCloud)), t.uint(keyCount), t.uint(keySeq)
		now := uint64(t.now.UnixNano())
		return t.expiry.ForEach(func(k, _ []byte) error {
			if binary.BigEndian.Uint64(k) > now {
				s.Fresh++
			}
			return nil
		})
	})
	return s, err
}

func objectKey(o herd.Object) []byte { return []byte(string(o.Kind) + ":" + o.Value) }

func expiryKey(t time.Time, key []byte) []byte {
	b := make([]byte, 8, 8+len(key))
	binary.BigEndian.PutUint64(b, uint64(max(t.UnixNano(), 0)))
	return append(b, key...)
}

func (e entry) record(o herd.Object) herd.Record {
	return herd.Record{Object: o, Verdict: e.Verdict, Threat: e.Threat, Source: e.Source, Test: e.Test}
}

// get returns the entry of key. A damaged entry reads as absent: the
// cloud is asked again and its answer replaces it.
func (t *txn) get(key []byte) (entry, bool) {
	v := t.entries.Get(key)
	if v == nil {
		return entry{}, false
	}
	e, err := decodeEntry(v)
	return e, err == nil
}

// put stores e under key, replacing any entry and its expiry index key.
func (t *txn) put(key []byte, e entry) error {
	v, err := appendEntry(make([]byte, 0, maxEntryEncoded), e)
	if err != nil {
		return err
	}
	held, err := t.unindex(key)
	if err != nil {
		return err
	}
	if !held {
		if err := t.putUint(keyCount, t.uint(keyCount)+1); err != nil {
			return err
		}
	}
	if err := t.entries.Put(key, v); err != nil {
		return err
	}
	return t.expiry.Put(expiryKey(e.Expires, key), nil)
}

// delete removes key's entry, if held.
func (t *txn) delete(key []byte) error {
	held, err := t.unindex(key)
	if err != nil || !held {
		return err
	}
	if err := t.putUint(keyCount, sub1(t.uint(keyCount))); err != nil {
		return err
	}
	return t.entries.Delete(key)
}

// unindex removes key's entry, if held, from the expiry index, ready to be
// replaced or deleted, and reports whether it was held.
func (t *txn) unindex(key []byte) (bool, error) {
	old := t.entries.Get(key)
	if old == nil {
		return false, nil
	}
	if e, err := decodeEntry(old); err == nil {
		return true, t.expiry.Delete(expiryKey(e.Expires, key))
	}
	return true, t.dropIndexOf(key)
}

// dropIndexOf removes every expiry index key of key, whatever its expiry:
// for a damaged entry whose expiry cannot be read.
func (t *txn) dropIndexOf(key []byte) error {
	c := t.expiry.Cursor()
	for k, _ := c.First(); k != nil; {
		if len(k) == 8+len(key) && bytes.Equal(k[8:], key) {
			if err := c.Delete(); err != nil {
				return err
			}
			k, _ = c.Seek(k)
			continue
		}
		k, _ = c.Next()
	}
	return nil
}

func sub1(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return n - 1
}

// evict removes the entries that expire first until at most limit remain.
func (t *txn) evict(limit int) error {
	n := t.uint(keyCount)
	c := t.expiry.Cursor()
	for k, _ := c.First(); k != nil && n > uint64(limit); k, _ = c.First() {
		if err := t.entries.Delete(k[8:]); err != nil {
			return err
		}
		if err := c.Delete(); err != nil {
			return err
		}
		n = sub1(n)
	}
	return t.putUint(keyCount, n)
}

// prune removes up to limit expired entries: they answer nothing any more.
func (t *txn) prune(limit int) error {
	n := t.uint(keyCount)
	now := uint64(t.now.UnixNano())
	c := t.expiry.Cursor()
	for k, _ := c.First(); k != nil && limit > 0 && binary.BigEndian.Uint64(k) <= now; k, _ = c.First() {
		if err := t.entries.Delete(k[8:]); err != nil {
			return err
		}
		if err := c.Delete(); err != nil {
			return err
		}
		n = sub1(n)
		limit--
	}
	return t.putUint(keyCount, n)
}

func (t *txn) uint(key []byte) uint64 {
	if v := t.meta.Get(key); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (t *txn) putUint(key []byte, v uint64) error {
	return t.meta.Put(key, binary.BigEndian.AppendUint64(nil, v))
}
