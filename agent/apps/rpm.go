package apps

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// rpmFormat is the query format RPM runs with: one package per line, tags
// separated by tabs; rpm prints "(none)" for a tag the package lacks.
const rpmFormat = `%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{VENDOR}\t%{PACKAGER}\n`

// rpmColumns is how many tags rpmFormat prints.
const rpmColumns = 7

// RPM reads the applications rpm installed by running
// `rpm -qa --queryformat rpmFormat` (with --root when Root is not "/").
// Without the rpm program there is nothing to read.
type RPM struct {
	Root string // "" means "/"
	Run  Runner // nil means Exec{}
}

var _ Source = (*RPM)(nil)

// Name implements Source.
func (r *RPM) Name() string { return SourceRPM }

// List implements Source.
func (r *RPM) List(ctx context.Context) ([]App, error) {
	opts := Options{Root: r.Root, Run: r.Run}
	args := []string{"-qa", "--queryformat", rpmFormat}
	if root := opts.root(); root != "/" {
		args = append([]string{"--root", root}, args...)
	}
	out, err := opts.runner().Run(ctx, "rpm", args...)
	if errors.Is(err, ErrNoTool) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseRPM(out)
}

// ParseRPM parses the output of `rpm -qa --queryformat rpmFormat`. A line
// that is not in that form is skipped and named by an *EntryError; the
// other lines are still returned. The gpg-pubkey entries rpm lists for its
// keys are not applications and are left out.
func ParseRPM(out []byte) ([]App, error) {
	var apps []App
	var errs []error
	more := 0
	bad := func(line int, name string, err error) {
		if len(errs) < maxEntryErrors {
			errs = append(errs, &EntryError{Source: SourceRPM, Line: line, Entry: name, Err: err})
		} else {
			more++
		}
	}
	for n, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		col := strings.Split(line, "\t")
		if len(col) != rpmColumns {
			bad(n+1, "", fmt.Errorf("%d tab-separated columns, want %d", len(col), rpmColumns))
			continue
		}
		for i := range col {
			if col[i] = strings.TrimSpace(col[i]); col[i] == "(none)" {
				col[i] = ""
			}
		}
		name, epoch, version, release, arch, vendor, packager := col[0], col[1], col[2], col[3], col[4], col[5], col[6]
		if !validRPMName(name) {
			bad(n+1, "", errors.New("no valid package name"))
			continue
		}
		if name == "gpg-pubkey" {
			continue
		}
		if version == "" {
			bad(n+1, name, errors.New("no version"))
			continue
		}
		if release != "" {
			version += "-" + release
		}
		if epoch != "" && epoch != "0" {
			version = epoch + ":" + version
		}
		pub := Publisher(vendor)
		if pub == "" {
			pub = Publisher(packager)
		}
		apps = append(apps, App{Name: name, Version: version, Publisher: pub, Source: SourceRPM, Arch: arch})
	}
	if more > 0 {
		errs = append(errs, fmt.Errorf("rpm: %d more malformed lines", more))
	}
	return apps, errors.Join(errs...)
}

// validRPMName checks that a package name is printable text without
// spaces, as rpm allows.
func validRPMName(s string) bool {
	if s == "" || len(s) > 255 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
