package jetstream_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/jetstream"
)

// TestSampleStore: sealed bytes by object name, the index under
// compare-and-set, listing by device pseudonym, and forgetting a device
// (the last one erases the sample), embedded and external.
func TestSampleStore(t *testing.T) {
	backends(t, func(t *testing.T, cfg jetstream.Config) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		db := MustOpen(t, cfg)
		st, err := db.Samples(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sha1, sha2 := fmt.Sprintf("%064x", 1), fmt.Sprintf("%064x", 2)
		obj1, obj2 := sha1+"-00000000000000aa", sha2+"-00000000000000bb"

		for _, bad := range []string{"", sha1, sha1 + "-xyz", "ABC-00000000000000aa", sha1 + "-00000000000000AA"} {
			if err := st.PutSealed(ctx, bad, []byte("x")); herd.ErrorCode(err) != herd.EINVALID {
				t.Errorf("PutSealed(%q): err = %v, want invalid", bad, err)
			}
		}
		if _, _, err := st.Record(ctx, "nothex"); herd.ErrorCode(err) != herd.EINVALID {
			t.Errorf("Record of a bad hash: err = %v, want invalid", err)
		}
		if _, _, err := st.Record(ctx, sha1); herd.ErrorCode(err) != herd.ENOTFOUND {
			t.Fatalf("Record of an unknown sample: err = %v, want not found", err)
		}

		sealed := bytes.Repeat([]byte{7}, 300<<10) // several object chunks
		if err := st.PutSealed(ctx, obj1, sealed); err != nil {
			t.Fatal(err)
		}
		rec := jetstream.SampleRecord{SHA256: sha1, Object: obj1, FileType: "elf", Size: 10, Devices: []string{"devA", "devB"}, DeviceCount: 2,
			Keys: map[string][]byte{"LIC1": []byte("wrap")}, Status: jetstream.SampleQueued}
		rev, err := st.Update(ctx, rec, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Update(ctx, rec, 0); herd.ErrorCode(err) != herd.ECONFLICT {
			t.Fatalf("creating an existing entry: err = %v, want conflict", err)
		}
		if _, err := st.Update(ctx, rec, rev+100); herd.ErrorCode(err) != herd.ECONFLICT {
			t.Fatalf("updating from a stale revision: err = %v, want conflict", err)
		}
		got, gotRev, err := st.Record(ctx, sha1)
		if err != nil || gotRev != rev || got.Object != obj1 || !slices.Equal(got.Devices, rec.Devices) || string(got.Keys["LIC1"]) != "wrap" {
			t.Fatalf("Record: %+v rev %d %v", got, gotRev, err)
		}
		if b, err := st.Sealed(ctx, obj1); err != nil || !bytes.Equal(b, sealed) {
			t.Fatalf("Sealed: %d bytes, %v", len(b), err)
		}
		if err := st.PutSealed(ctx, obj2, []byte("two")); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Update(ctx, jetstream.SampleRecord{SHA256: sha2, Object: obj2, Devices: []string{"devA"}, DeviceCount: 1, Status: jetstream.SampleQueued}, 0); err != nil {
			t.Fatal(err)
		}

		if got, err := st.Offered(ctx, "devA"); err != nil || !slices.Equal(got, []string{sha1, sha2}) {
			t.Fatalf("Offered(devA) = %v %v", got, err)
		}
		if n, err := st.Forget(ctx, "devA"); err != nil || n != 2 {
			t.Fatalf("Forget(devA) = %d %v, want 2", n, err)
		}
		// sha2 had devA alone: erased, bytes too; sha1 keeps devB.
		if _, _, err := st.Record(ctx, sha2); herd.ErrorCode(err) != herd.ENOTFOUND {
			t.Fatalf("sample offered by a forgotten device alone: err = %v, want not found", err)
		}
		if _, err := st.Sealed(ctx, obj2); herd.ErrorCode(err) != herd.ENOTFOUND {
			t.Fatalf("its bytes: err = %v, want not found", err)
		}
		got, _, err = st.Record(ctx, sha1)
		if err != nil || !slices.Equal(got.Devices, []string{"devB"}) || got.DeviceCount != 1 {
			t.Fatalf("sample still offered by devB: %+v %v", got, err)
		}
		if n, err := st.Forget(ctx, "devA"); err != nil || n != 0 {
			t.Fatalf("Forget(devA) again = %d %v, want 0", n, err)
		}
		recs, err := st.Records(ctx)
		if err != nil || len(recs) != 1 || recs[0].SHA256 != sha1 {
			t.Fatalf("Records = %+v %v", recs, err)
		}
		if err := st.Delete(ctx, sha1); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Sealed(ctx, obj1); herd.ErrorCode(err) != herd.ENOTFOUND {
			t.Fatalf("bytes after Delete: err = %v, want not found", err)
		}
		if recs, err := st.Records(ctx); err != nil || len(recs) != 0 {
			t.Fatalf("Records after Delete = %+v %v", recs, err)
		}
	})
}
