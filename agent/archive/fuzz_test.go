package archive_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/herdsec/herd/agent/archive"
)

// FuzzWalk walks arbitrary bytes under small limits: Walk must not panic
// or hang, must keep to the limits, and must refuse with a reason it
// documents.
func FuzzWalk(f *testing.F) {
	tarball := MustTar(f, file{name: "eicar.com", data: eicar}, file{name: "l", data: []byte("eicar.com"), typ: '2'})
	for _, seed := range [][]byte{
		MustZip(f, file{name: "a/eicar.com", data: eicar}, file{name: "b", data: []byte("x")}),
		tarball,
		MustGzip(f, "n", tarball),
		MustXZ(f, tarball),
		MustRead(f, "testdata/eicar.tar.bz2"),
		MustRead(f, "testdata/eicar.com.bz2"),
		MustZip(f, file{name: "in.tgz", data: MustGzip(f, "", MustTar(f, file{name: "z.zip", data: MustZip(f, file{name: "e", data: eicar})}))}),
		MustZip(f, file{name: "../x", data: eicar}),
		MustZipBomb(f, []string{"z"}, 2<<20),
	} {
		f.Add(seed)
	}
	lim := archive.Limits{MaxDepth: 3, MaxTotal: 4 << 20, MaxMember: 1 << 20, MaxMembers: 50, MaxRatio: 20, RatioFloor: 64 << 10, MaxSpill: 256 << 10}
	reasons := map[archive.Reason]bool{archive.ReasonRatio: true, archive.ReasonMemberSize: true, archive.ReasonTotalSize: true,
		archive.ReasonMembers: true, archive.ReasonDepth: true, archive.ReasonOverlap: true, archive.ReasonPath: true}
	lim.TempDir = f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		var members int
		buf := make([]byte, 32<<10)
		err := archive.Walk(context.Background(), "f", bytes.NewReader(data), int64(len(data)), lim, func(m archive.Member, r io.Reader) error {
			members++
			if m.Depth < 1 || m.Depth > lim.MaxDepth {
				t.Fatalf("member %q at depth %d, limit %d", m.Path, m.Depth, lim.MaxDepth)
			}
			n, err := io.CopyBuffer(io.Discard, r, buf)
			// A read may overshoot the limit by one buffer before it fails.
			if n > lim.MaxMember+int64(len(buf))+archive.HeadSize {
				t.Fatalf("member %q: read %d bytes, limit %d", m.Path, n, lim.MaxMember)
			}
			return err
		})
		if members > lim.MaxMembers {
			t.Fatalf("%d members given, limit %d", members, lim.MaxMembers)
		}
		if left, _ := os.ReadDir(lim.TempDir); len(left) != 0 {
			t.Fatalf("%d temporary files left behind", len(left))
		}
		var re *archive.RefusedError
		if errors.As(err, &re) && !reasons[re.Reason] {
			t.Fatalf("refused for an unknown reason %q: %v", re.Reason, err)
		}
	})
}
