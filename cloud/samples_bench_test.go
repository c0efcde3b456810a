package cloud

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
	"time"

	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
)

// BenchmarkSampleUpload: an enrolled agent uploads distinct 4 MiB files
// over mutual TLS to a real cloud, which checks the consent and the hash,
// seals each file and stores it in the JetStream object store.
func BenchmarkSampleUpload(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, srv, ca := mustOpenSampleCloud(b, 8<<20)
	admin := adminClient(b, srv.URL, ca)
	lic := mustLicence(ctx, b, admin, 1, "", "")
	dev, err := enroll(ctx, b, srv.URL, ca, lic.Key, "bench-machine")
	if err != nil {
		b.Fatal(err)
	}
	agent := tlsClient(b, srv.URL, ca, &dev.pair)
	agent.HTTP.Timeout = time.Minute
	rec, err := consent.FromProfile(consent.ProfileFull, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := agent.SetConsentRecord(ctx, dev.Device, rec); err != nil {
		b.Fatal(err)
	}
	file := bytes.Repeat([]byte{0x90}, 4<<20)
	copy(file, "\x7fELF")
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint64(file[8:], uint64(i)) // a new file each time
		sum := sha256.Sum256(file)
		r, err := agent.UploadSample(ctx, httpapi.SampleOffer{SHA256: hex.EncodeToString(sum[:]), FileType: "elf"}, bytes.NewReader(file), int64(len(file)))
		if err != nil || !r.Stored {
			b.Fatalf("upload %d: %+v %v", i, r, err)
		}
	}
}
