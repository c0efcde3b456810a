package sigdb

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"strconv"
)

// WriteBenchHSB writes n deterministic sha256 signature lines, the same on
// every run and machine, so that benchmarks here and in the bench command
// measure the same database. Line i (from 1) holds the sha256 of i as an
// 8-byte big-endian number, size 1000+i and name Herd.Bench.Trojan-%07d.
func WriteBenchHSB(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var num [8]byte
	var dec [20]byte
	line := make([]byte, 0, 128)
	for i := 1; i <= n; i++ {
		binary.BigEndian.PutUint64(num[:], uint64(i))
		h := sha256.Sum256(num[:])
		line = hex.AppendEncode(line[:0], h[:])
		line = append(line, ':')
		line = strconv.AppendInt(line, int64(1000+i), 10)
		line = append(line, ":Herd.Bench.Trojan-"...)
		d := strconv.AppendInt(dec[:0], int64(i), 10)
		for range 7 - len(d) {
			line = append(line, '0')
		}
		line = append(line, d...)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}
