// Command vulndb turns the OSV files shipped in the golang.org/x/vulndb
// module (data/osv/*.json) into a Go vulnerability database that
// `govulncheck -db file:///ABS/DIR` can read. It is run by .ci/vulndb.sh,
// because CI cannot reach https://vuln.go.dev but can reach the Go module
// proxy, which serves the vulndb module.
//
// It writes the same files as vulndb's own cmd/indexdb (the "v1" layout,
// https://go.dev/security/vuln/database#api), minus the .json.gz copies,
// which only the HTTP client reads:
//
//	index/db.json       {"modified": ...}
//	index/modules.json  [{"path": ..., "vulns": [{"id", "modified", "fixed"}]}]
//	index/vulns.json    [{"id", "modified", "aliases"}]
//	ID/<GO-ID>.json     each OSV entry, as compact JSON
//
// We do not run cmd/indexdb itself: it needs about a hundred other modules
// (cloud SDKs, grpc, go-git, ...) downloaded and compiled first, which takes
// minutes on a cold cache. This program uses the standard library only.
//
// One difference from indexdb: the OSV files in the module have no real
// "modified" dates (the real database fills them in from git history), so
// index/db.json gets the commit time of the vulndb module version instead.
// govulncheck only shows that date; it does not use it to pick entries.
//
// Usage (from the module root):
//
//	go mod download -json golang.org/x/vulndb@VERSION > dl.json
//	go run ./.ci/vulndb -download dl.json -out DIR
//
// On success it prints one line, "vulndb: N entries".
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	download := flag.String("download", "", "file holding the output of `go mod download -json golang.org/x/vulndb@VERSION`")
	out := flag.String("out", "", "directory to write the database to (must not exist yet)")
	flag.Parse()
	if *download == "" || *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: vulndb -download FILE -out DIR")
		os.Exit(2)
	}
	n, err := run(*download, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
	fmt.Printf("vulndb: %d entries\n", n)
}

// osvEntry holds the fields of an OSV entry that the indexes need.
type osvEntry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases"`
	Affected []struct {
		Module struct {
			Path string `json:"name"`
		} `json:"package"`
		Ranges []osvRange `json:"ranges"`
	} `json:"affected"`
}

type osvRange struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced string `json:"introduced"`
		Fixed      string `json:"fixed"`
	} `json:"events"`
}

// The index types below mirror golang.org/x/vulndb/internal/database.
// Times are kept as RFC 3339 strings in UTC, as that package writes them.

type dbMeta struct {
	Modified string `json:"modified"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type moduleVuln struct {
	ID       string `json:"id"`
	Modified string `json:"modified"`
	Fixed    string `json:"fixed,omitempty"`
}

type vulnMeta struct {
	ID       string   `json:"id"`
	Modified string   `json:"modified"`
	Aliases  []string `json:"aliases,omitempty"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func run(downloadJSON, out string) (int, error) {
	// Find the module's files from `go mod download -json`.
	b, err := os.ReadFile(downloadJSON)
	if err != nil {
		return 0, err
	}
	var dl struct{ Path, Version, Dir, Info, Error string }
	if err := json.Unmarshal(b, &dl); err != nil {
		return 0, fmt.Errorf("reading %s: %v", downloadJSON, err)
	}
	if dl.Error != "" {
		return 0, fmt.Errorf("go mod download: %s", dl.Error)
	}
	if dl.Dir == "" || dl.Info == "" {
		return 0, fmt.Errorf("%s: no Dir or Info field", downloadJSON)
	}
	b, err = os.ReadFile(dl.Info)
	if err != nil {
		return 0, err
	}
	var info struct{ Time time.Time }
	if err := json.Unmarshal(b, &info); err != nil {
		return 0, fmt.Errorf("reading %s: %v", dl.Info, err)
	}

	osvDir := filepath.Join(dl.Dir, "data", "osv")
	files, err := os.ReadDir(osvDir)
	if err != nil {
		return 0, err
	}

	// Refuse to write into an existing directory: stale entries left
	// there would silently stay in the database.
	if _, err := os.Lstat(out); err == nil {
		return 0, fmt.Errorf("%s already exists", out)
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	idDir := filepath.Join(out, "ID")
	indexDir := filepath.Join(out, "index")
	for _, d := range []string{idDir, indexDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, err
		}
	}

	db := dbMeta{Modified: rfc3339(info.Time)}
	dbModified := info.Time
	modules := map[string]*moduleMeta{}
	var vulns []vulnMeta
	seen := map[string]bool{}

	for _, f := range files {
		name := f.Name()
		// Same files as indexdb reads: *.json except a legacy index.json.
		if f.IsDir() || filepath.Ext(name) != ".json" || name == "index.json" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(osvDir, name))
		if err != nil {
			return 0, err
		}
		var e osvEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return 0, fmt.Errorf("%s: %v", name, err)
		}
		// govulncheck fetches ID/<id>.json, so the name must match the id.
		if e.ID == "" || name != e.ID+".json" || strings.ContainsAny(e.ID, `/\`) {
			return 0, fmt.Errorf("%s: file name does not match id %q", name, e.ID)
		}
		if seen[e.ID] {
			return 0, fmt.Errorf("id %q appears twice", e.ID)
		}
		seen[e.ID] = true

		var entry bytes.Buffer
		if err := json.Compact(&entry, raw); err != nil {
			return 0, fmt.Errorf("%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(idDir, name), entry.Bytes(), 0o644); err != nil {
			return 0, err
		}

		if e.Modified.After(dbModified) {
			dbModified = e.Modified
			db.Modified = rfc3339(e.Modified)
		}
		vulns = append(vulns, vulnMeta{ID: e.ID, Modified: rfc3339(e.Modified), Aliases: e.Aliases})
		for _, a := range e.Affected {
			if a.Module.Path == "" {
				return 0, fmt.Errorf("%s: affected package without a name", name)
			}
			m := modules[a.Module.Path]
			if m == nil {
				m = &moduleMeta{Path: a.Module.Path, Vulns: []moduleVuln{}}
				modules[a.Module.Path] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{
				ID:       e.ID,
				Modified: rfc3339(e.Modified),
				Fixed:    latestFixed(a.Ranges),
			})
		}
	}
	if len(vulns) == 0 {
		return 0, fmt.Errorf("no OSV entries in %s", osvDir)
	}

	// Sort as indexdb does: modules by path, each module's vulns by id,
	// vulns by id.
	mods := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		sort.SliceStable(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })

	for name, v := range map[string]any{"db.json": db, "modules.json": mods, "vulns.json": vulns} {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(indexDir, name), b, 0o644); err != nil {
			return 0, err
		}
	}
	return len(vulns), nil
}

// latestFixed returns the version from which the vulnerability is fixed
// for good, or "" if there is none (it was re-introduced after its last
// fix, or never fixed). govulncheck skips an entry without reading it
// when the module version in use is at least this one, so getting it
// too low would hide vulnerabilities.
// Copied from golang.org/x/vulndb/internal/osvutils.LatestFixed.
func latestFixed(ranges []osvRange) string {
	var latest string
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		for _, e := range r.Events {
			if e.Fixed != "" && before(latest, e.Fixed) {
				latest = e.Fixed
			}
		}
		// If the vulnerability was re-introduced after the latest fix
		// we found, there is no latest fix for this range.
		for _, e := range r.Events {
			if e.Introduced != "" && e.Introduced != "0" && before(latest, e.Introduced) {
				latest = ""
				break
			}
		}
	}
	return latest
}

// before reports whether v < w, for semantic versions without the "v"
// prefix (as OSV writes them). An invalid version sorts before any valid
// one, and "" is invalid.
func before(v, w string) bool { return semverCompare("v"+v, "v"+w) < 0 }

// The rest is the comparison part of golang.org/x/mod/semver, copied so that
// this program needs nothing outside the standard library.
// Copyright 2018 The Go Authors. BSD-style license.

type parsed struct {
	major, minor, patch, prerelease string
}

func semverCompare(v, w string) int {
	pv, ok1 := parse(v)
	pw, ok2 := parse(w)
	switch {
	case !ok1 && !ok2:
		return 0
	case !ok1:
		return -1
	case !ok2:
		return +1
	}
	if c := compareInt(pv.major, pw.major); c != 0 {
		return c
	}
	if c := compareInt(pv.minor, pw.minor); c != 0 {
		return c
	}
	if c := compareInt(pv.patch, pw.patch); c != 0 {
		return c
	}
	return comparePrerelease(pv.prerelease, pw.prerelease)
}

func parse(v string) (p parsed, ok bool) {
	if v == "" || v[0] != 'v' {
		return
	}
	p.major, v, ok = parseInt(v[1:])
	if !ok {
		return
	}
	if v == "" {
		p.minor, p.patch = "0", "0"
		return
	}
	if v[0] != '.' {
		return p, false
	}
	p.minor, v, ok = parseInt(v[1:])
	if !ok {
		return
	}
	if v == "" {
		p.patch = "0"
		return
	}
	if v[0] != '.' {
		return p, false
	}
	p.patch, v, ok = parseInt(v[1:])
	if !ok {
		return
	}
	if len(v) > 0 && v[0] == '-' {
		p.prerelease, v, ok = parsePrerelease(v)
		if !ok {
			return
		}
	}
	if len(v) > 0 && v[0] == '+' {
		_, v, ok = parseBuild(v)
		if !ok {
			return
		}
	}
	if v != "" {
		return p, false
	}
	return p, true
}

func parseInt(v string) (t, rest string, ok bool) {
	if v == "" || v[0] < '0' || '9' < v[0] {
		return
	}
	i := 1
	for i < len(v) && '0' <= v[i] && v[i] <= '9' {
		i++
	}
	if v[0] == '0' && i != 1 {
		return
	}
	return v[:i], v[i:], true
}

func parsePrerelease(v string) (t, rest string, ok bool) {
	if v == "" || v[0] != '-' {
		return
	}
	i, start := 1, 1
	for i < len(v) && v[i] != '+' {
		if !isIdentChar(v[i]) && v[i] != '.' {
			return
		}
		if v[i] == '.' {
			if start == i || isBadNum(v[start:i]) {
				return
			}
			start = i + 1
		}
		i++
	}
	if start == i || isBadNum(v[start:i]) {
		return
	}
	return v[:i], v[i:], true
}

func parseBuild(v string) (t, rest string, ok bool) {
	if v == "" || v[0] != '+' {
		return
	}
	i, start := 1, 1
	for i < len(v) {
		if !isIdentChar(v[i]) && v[i] != '.' {
			return
		}
		if v[i] == '.' {
			if start == i {
				return
			}
			start = i + 1
		}
		i++
	}
	if start == i {
		return
	}
	return v[:i], v[i:], true
}

func isIdentChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-'
}

func isBadNum(v string) bool {
	i := 0
	for i < len(v) && '0' <= v[i] && v[i] <= '9' {
		i++
	}
	return i == len(v) && i > 1 && v[0] == '0'
}

func isNum(v string) bool {
	i := 0
	for i < len(v) && '0' <= v[i] && v[i] <= '9' {
		i++
	}
	return i == len(v)
}

func compareInt(x, y string) int {
	switch {
	case x == y:
		return 0
	case len(x) != len(y):
		if len(x) < len(y) {
			return -1
		}
		return +1
	case x < y:
		return -1
	default:
		return +1
	}
}

func comparePrerelease(x, y string) int {
	if x == y {
		return 0
	}
	if x == "" {
		return +1
	}
	if y == "" {
		return -1
	}
	for x != "" && y != "" {
		x, y = x[1:], y[1:] // skip - or .
		var dx, dy string
		dx, x = nextIdent(x)
		dy, y = nextIdent(y)
		if dx != dy {
			ix, iy := isNum(dx), isNum(dy)
			if ix != iy {
				if ix {
					return -1
				}
				return +1
			}
			if ix && len(dx) != len(dy) {
				if len(dx) < len(dy) {
					return -1
				}
				return +1
			}
			if dx < dy {
				return -1
			}
			return +1
		}
	}
	if x == "" {
		return -1
	}
	return +1
}

func nextIdent(x string) (dx, rest string) {
	i := 0
	for i < len(x) && x[i] != '.' {
		i++
	}
	return x[:i], x[i:]
}
