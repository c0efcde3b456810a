package cli_test

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/herdsec/herd/internal/cli"
)

// flags is a flag set like the CLIs': a string, a bool and a repeatable flag.
type flags struct {
	fs   *flag.FlagSet
	name string
	json bool
	dbs  []string
}

type listFlag struct{ l *[]string }

func (f listFlag) String() string {
	if f.l == nil {
		return ""
	}
	return strings.Join(*f.l, ",")
}
func (f listFlag) Set(v string) error { *f.l = append(*f.l, v); return nil }

func newFlags() *flags {
	f := &flags{fs: flag.NewFlagSet("test", flag.ContinueOnError)}
	f.fs.SetOutput(io.Discard)
	f.fs.StringVar(&f.name, "name", "", "")
	f.fs.BoolVar(&f.json, "json", false, "")
	f.fs.Var(listFlag{&f.dbs}, "db", "")
	return f
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		args []string
		pos  []string
		name string
		json bool
		dbs  []string
	}{
		{args: nil, pos: nil},
		{args: []string{"a", "b"}, pos: []string{"a", "b"}},
		{args: []string{"--name", "X", "--json", "a", "b"}, pos: []string{"a", "b"}, name: "X", json: true},
		{args: []string{"a", "b", "--name", "X", "--json"}, pos: []string{"a", "b"}, name: "X", json: true},
		{args: []string{"a", "--name=X", "b", "-json", "c"}, pos: []string{"a", "b", "c"}, name: "X", json: true},
		{args: []string{"sha256:ab", "malicious", "--name", "Win.Test"}, pos: []string{"sha256:ab", "malicious"}, name: "Win.Test"},
		{args: []string{"--db", "1.hsb", "dir", "--db", "2.hdb", "--db=3.hsb"}, pos: []string{"dir"}, dbs: []string{"1.hsb", "2.hdb", "3.hsb"}},
		// A flag's value is never a positional, even when it looks like one.
		{args: []string{"--name", "malicious", "obj"}, pos: []string{"obj"}, name: "malicious"},
		{args: []string{"--name", "-", "obj"}, pos: []string{"obj"}, name: "-"},
		// "-" alone is a positional (standard input, by convention).
		{args: []string{"-", "--json"}, pos: []string{"-"}, json: true},
		// "--" ends the flags: what follows is positional, flag-like or not.
		{args: []string{"--", "--json", "-x"}, pos: []string{"--json", "-x"}},
		{args: []string{"a", "--json", "--", "--name", "X"}, pos: []string{"a", "--name", "X"}, json: true},
		{args: []string{"a", "--", "b", "--", "c"}, pos: []string{"a", "b", "--", "c"}},
		{args: []string{"a", "--"}, pos: []string{"a"}},
		{args: []string{"--json=false", "a"}, pos: []string{"a"}, json: false},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := newFlags()
			pos, err := cli.Parse(f.fs, tt.args)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.args, err)
			}
			if !slices.Equal(pos, tt.pos) || f.name != tt.name || f.json != tt.json || !slices.Equal(f.dbs, tt.dbs) {
				t.Errorf("Parse(%q) = %q name=%q json=%v dbs=%q\nwant %q name=%q json=%v dbs=%q",
					tt.args, pos, f.name, f.json, f.dbs, tt.pos, tt.name, tt.json, tt.dbs)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"a", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"--bogus", "a"}, "flag provided but not defined: -bogus"},
		{[]string{"a", "b", "--name"}, "flag needs an argument: -name"},
		{[]string{"a", "--json=maybe"}, `invalid boolean value "maybe" for -json`},
	} {
		f := newFlags()
		pos, err := cli.Parse(f.fs, tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) || pos != nil {
			t.Errorf("Parse(%q) = %q, %v; want an error containing %q", tt.args, pos, err, tt.want)
		}
	}
	f := newFlags()
	if _, err := cli.Parse(f.fs, []string{"a", "-h"}); err != flag.ErrHelp {
		t.Errorf("Parse(a -h): %v, want flag.ErrHelp", err)
	}
}

func TestCloud(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "HERD_CLOUD" {
				return v
			}
			return "http://wrong.example:1"
		}
	}
	for _, tt := range []struct {
		flag, env, want string
	}{
		{"http://flag.example:8440", "http://env.example:8440", "http://flag.example:8440"},
		{"http://flag.example:8440", "", "http://flag.example:8440"},
		{"", "http://env.example:8440", "http://env.example:8440"},
		{"", "  http://env.example:8440\n", "http://env.example:8440"},
		{"", "", cli.DefaultCloud},
		{"", " \t\n", cli.DefaultCloud},
	} {
		if got := cli.Cloud(tt.flag, env(tt.env)); got != tt.want {
			t.Errorf("Cloud(flag %q, HERD_CLOUD %q) = %q, want %q", tt.flag, tt.env, got, tt.want)
		}
	}
	if cli.DefaultCloud != "https://127.0.0.1:8440" {
		t.Errorf("DefaultCloud = %q; the docs and herdd's default listen address say https://127.0.0.1:8440", cli.DefaultCloud)
	}
}
