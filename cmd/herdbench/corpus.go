package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/herdsec/herd"
)

// CorpusSpec fixes a generated scan corpus: the same spec gives the same
// files, byte for byte, on every machine, so figures taken on different
// machines or days scan the same thing.
type CorpusSpec struct {
	Files int    `json:"files"`
	Bytes int64  `json:"bytes"` // in total, exactly
	Seed  uint64 `json:"seed"`
}

// corpusVersion changes whenever the generator writes something different
// for the same spec, so that an old corpus is regenerated, not reused.
const corpusVersion = 1

// eicarFiles is how many corpus files are the EICAR test file, which every
// Herd agent detects from its built-in verdicts.
const eicarFiles = 3

// CorpusFile is one generated file.
type CorpusFile struct {
	Path   string `json:"path"` // relative to the corpus dir, slash-separated
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	EICAR  bool   `json:"eicar,omitempty"`
}

// Manifest lists a generated corpus. It is written last, so a corpus
// without one is incomplete.
type Manifest struct {
	Version int          `json:"version"`
	Spec    CorpusSpec   `json:"spec"`
	Files   []CorpusFile `json:"files"`
	// Match is the index of the file that the bench database gets a
	// signature for, so that a scan's detections include a real match.
	Match int `json:"match"`
}

// Bytes returns the corpus's total size.
func (m *Manifest) Bytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// planCorpus decides every file's path and size, without content. The mix
// is what a disk holds: mostly small files (1–16 KiB), about 1% of
// 100 KiB–2 MiB and 0.1% of 5–10 MiB; the few big ones carry most of the
// bytes. The 100 KiB–2 MiB files, the most numerous of those, are scaled
// together to make the total exact.
func planCorpus(spec CorpusSpec) (Manifest, error) {
	huge := max(1, spec.Files/1000)
	large := max(1, spec.Files*13/1000)
	if spec.Files < huge+large+eicarFiles {
		return Manifest{}, fmt.Errorf("corpus: %d files: too few for the size mix", spec.Files)
	}
	rng := rand.New(rand.NewPCG(spec.Seed, corpusVersion))
	class := make([]byte, spec.Files) // 's'mall, 'l'arge, 'h'uge, 'e'icar
	for i := range class {
		switch {
		case i < huge:
			class[i] = 'h'
		case i < huge+large:
			class[i] = 'l'
		case i < huge+large+eicarFiles:
			class[i] = 'e'
		default:
			class[i] = 's'
		}
	}
	rng.Shuffle(len(class), func(i, j int) { class[i], class[j] = class[j], class[i] })

	m := Manifest{Version: corpusVersion, Spec: spec, Files: make([]CorpusFile, spec.Files), Match: -1}
	var fixed int64     // bytes of all but the large files
	var weights float64 // of the large files, which share the rest
	var largeIdx []int
	for i, c := range class {
		f := &m.Files[i]
		f.Path = corpusPath(rng, i)
		switch c {
		case 's':
			f.Size = logUniform(rng, 1<<10, 16<<10)
		case 'e':
			f.Size, f.EICAR = int64(len(herd.EICAR)), true
		case 'h':
			f.Size = 5<<20 + rng.Int64N(5<<20)
		case 'l':
			f.Size = logUniform(rng, 100<<10, 2<<20) // a weight for now
			weights += float64(f.Size)
			largeIdx = append(largeIdx, i)
			if m.Match < 0 {
				m.Match = i
			}
			continue
		}
		fixed += f.Size
	}
	rest := spec.Bytes - fixed
	if rest < int64(large)*(50<<10) {
		return Manifest{}, fmt.Errorf("corpus: %d bytes: too few for %d files of this mix", spec.Bytes, spec.Files)
	}
	left := rest
	for k, i := range largeIdx {
		f := &m.Files[i]
		if k == len(largeIdx)-1 {
			f.Size = left
			break
		}
		f.Size = int64(float64(rest) * float64(f.Size) / weights)
		left -= f.Size
	}
	return m, nil
}

// corpusPath nests files one to three folders deep, as a real tree is.
func corpusPath(rng *rand.Rand, i int) string {
	exts := []string{".bin", ".dat", ".txt", ".exe", ".dll", ".pdf", ".jpg", ".so"}
	p := fmt.Sprintf("d%02d", rng.IntN(12))
	if rng.IntN(4) > 0 {
		p += fmt.Sprintf("/s%02d", rng.IntN(10))
		if rng.IntN(10) < 3 {
			p += fmt.Sprintf("/t%d", rng.IntN(4))
		}
	}
	return fmt.Sprintf("%s/f%05d%s", p, i, exts[rng.IntN(len(exts))])
}

// logUniform returns a size in [lo, hi) whose logarithm is uniform, so
// that sizes spread evenly over the orders of magnitude.
func logUniform(rng *rand.Rand, lo, hi int64) int64 {
	l, h := math.Log(float64(lo)), math.Log(float64(hi))
	return min(hi-1, int64(math.Exp(l+rng.Float64()*(h-l))))
}

// ensureCorpus returns the manifest of the corpus in dir, generating it
// unless a complete one of the same spec is there already (its manifest
// is at manifestPath and every file has its size). reused says which.
func ensureCorpus(dir, manifestPath string, spec CorpusSpec) (m Manifest, reused bool, err error) {
	if m, err := readManifest(manifestPath); err == nil && m.Version == corpusVersion && m.Spec == spec && filesPresent(dir, &m) {
		return m, true, nil
	}
	m, err = generateCorpus(dir, spec)
	if err != nil {
		return Manifest{}, false, err
	}
	return m, false, writeManifest(manifestPath, &m)
}

// generateCorpus writes the corpus of spec into dir, replacing whatever
// dir held, and returns its manifest with every file's sha256.
func generateCorpus(dir string, spec CorpusSpec) (Manifest, error) {
	m, err := planCorpus(spec)
	if err != nil {
		return Manifest{}, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return Manifest{}, err
	}
	buf := make([]byte, 1<<20)
	h := sha256.New()
	for i := range m.Files {
		f := &m.Files[i]
		path := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return Manifest{}, err
		}
		var content io.Reader = fileContent(spec.Seed, i, f.Size)
		if f.EICAR {
			content = strings.NewReader(herd.EICAR)
		}
		if err := writeFile(path, content, h, buf); err != nil {
			return Manifest{}, err
		}
		f.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	return m, nil
}

// fileContent returns file i's pseudo-random bytes: its own ChaCha8
// stream, so that a file's content depends on nothing but the seed and
// its number.
func fileContent(seed uint64, i int, size int64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(i))
	copy(key[16:], "herdbench corpus")
	return io.LimitReader(rand.NewChaCha8(key), size)
}

func writeFile(path string, r io.Reader, h hash.Hash, buf []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	h.Reset()
	if _, err := io.CopyBuffer(io.MultiWriter(f, h), r, buf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// filesPresent reports whether every file of m is in dir with its size.
// Contents are not hashed again: that would cost as much as writing them.
func filesPresent(dir string, m *Manifest) bool {
	for _, f := range m.Files {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil || st.Size() != f.Size {
			return false
		}
	}
	return len(m.Files) > 0
}

func readManifest(path string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	if m.Match < 0 || m.Match >= len(m.Files) {
		return m, errors.New(path + ": no matching file")
	}
	return m, nil
}

// writeManifest writes m atomically: a manifest present means a complete corpus.
func writeManifest(path string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
