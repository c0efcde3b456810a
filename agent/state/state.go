// Package state keeps the agent's durable state in one embedded bbolt file:
// settings (device id, consent), the telemetry outbox, and a log of the
// batches last sent, byte for byte, so a person can see exactly what left
// the device.
package state

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	bucketMeta   = []byte("meta")
	bucketOutbox = []byte("outbox")
	bucketSent   = []byte("sent")
)

// FileName is the state file's name inside the state directory.
const FileName = "state.db"

// Store is the agent's state file. It is safe for concurrent use; bbolt
// allows one process at a time, so a second agent on the same directory
// waits up to the open timeout and then fails with a clear error.
type Store struct {
	db *bolt.DB
	// maxOutbox bounds the outbox's size in bytes (see SetOutboxLimit).
	maxOutbox atomic.Int64
}

// Open opens (or creates) the state in dir, which is created mode 0700.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("state %s: in use by another herd process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketOutbox, bucketSent, bucketOutboxIndex} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return reindexOutbox(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	st := &Store{db: db}
	st.maxOutbox.Store(DefaultOutboxLimit)
	return st, nil
}

// Close closes the state file.
func (s *Store) Close() error { return s.db.Close() }

// Get returns the value of a setting, or nil if it is not set.
func (s *Store) Get(key string) ([]byte, error) {
	var v []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Get([]byte(key)); b != nil {
			v = append([]byte(nil), b...)
		}
		return nil
	})
	return v, err
}

// Put sets a setting.
func (s *Store) Put(key string, value []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(key), value)
	})
}

// DeviceID returns this installation's random device id, creating it on
// first use. It identifies the device to the cloud, which keeps only keyed
// pseudonyms of it.
func (s *Store) DeviceID() (string, error) {
	var id string
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if v := b.Get([]byte("device_id")); v != nil {
			id = string(v)
			return nil
		}
		raw := make([]byte, 16)
		if _, err := rand.Read(raw); err != nil {
			return err
		}
		id = hex.EncodeToString(raw)
		return b.Put([]byte("device_id"), []byte(id))
	})
	return id, err
}

// Sent is one batch as it was sent to the cloud.
type Sent struct {
	Time  time.Time `json:"time"`
	Cloud string    `json:"cloud"`
	Body  []byte    `json:"body"` // the exact request body
}

// RecordSent logs a sent batch and keeps only the last keep batches.
func (s *Store) RecordSent(b Sent, keep int) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketSent)
		seq, err := bk.NextSequence()
		if err != nil {
			return err
		}
		v, err := json.Marshal(b)
		if err != nil {
			return err
		}
		if err := bk.Put(seqKey(seq), v); err != nil {
			return err
		}
		// Count afresh (bucket statistics lag inside a write transaction),
		// then drop the oldest beyond keep.
		var keys [][]byte
		c := bk.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
		}
		for i := 0; i < len(keys)-keep; i++ {
			if err := bk.Delete(keys[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// LastSent returns the logged batches, oldest first.
func (s *Store) LastSent() ([]Sent, error) {
	var out []Sent
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSent).ForEach(func(_, v []byte) error {
			var b Sent
			if err := json.Unmarshal(v, &b); err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
	})
	return out, err
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// Delete removes a setting.
func (s *Store) Delete(key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Delete([]byte(key))
	})
}

// SetDeviceID replaces the device id, as enrollment does when the cloud
// binds this machine to the device it enrolled before (a reinstall).
func (s *Store) SetDeviceID(id string) error { return s.Put("device_id", []byte(id)) }
