package herd

// FileDigests are the hashes of one file's content, computed in one pass.
// SHA1 and MD5 are zero unless Have says they were computed.
type FileDigests struct {
	Size     int64
	SHA256   [32]byte
	SHA1     [20]byte
	MD5      [16]byte
	HaveSHA1 bool
	HaveMD5  bool
}
