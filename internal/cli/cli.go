// Package cli holds what the command-line programs share: flag parsing that
// allows flags after arguments, and reading the cloud's address.
package cli

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity/pki"
)

// Parse parses fl from args, allowing flags to follow positional arguments
// (herdctl verdict set OBJ malicious --name X), and returns the positionals.
// "--" ends flag parsing.
func Parse(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		rest := fl.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if k := len(args) - len(rest); k > 0 && args[k-1] == "--" && !isFlagValue(fl, args[:k-1]) {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// DefaultCloud is the cloud address the CLIs use when none is given.
const DefaultCloud = "https://127.0.0.1:8440"

// Cloud returns the cloud URL from the flag value, then HERD_CLOUD, then the default.
func Cloud(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := strings.TrimSpace(getenv("HERD_CLOUD")); v != "" {
		return v
	}
	return DefaultCloud
}

// isFlagValue reports whether the argument after before is the value of a
// flag written as "--name value" (so a "--" there is a value, not the end
// of flags).
func isFlagValue(fl *flag.FlagSet, before []string) bool {
	if len(before) == 0 {
		return false
	}
	prev := before[len(before)-1]
	if !strings.HasPrefix(prev, "-") || prev == "-" || prev == "--" || strings.Contains(prev, "=") {
		return false
	}
	f := fl.Lookup(strings.TrimLeft(prev, "-"))
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !(ok && b.IsBoolFlag())
}

// CA returns the CA file a CLI trusts: the flag's value, then HERD_CA, then
// the first of the fallbacks that exists; "" means the system's CAs.
func CA(flagValue string, getenv func(string) string, fallbacks ...string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := strings.TrimSpace(getenv("HERD_CA")); v != "" {
		return v
	}
	for _, f := range fallbacks {
		if _, err := os.Stat(f); err == nil {
			return f
		}
	}
	return ""
}

// Client returns an API client of the cloud at url that trusts the CAs in
// caFile (the system's if empty) and presents the certificate pair
// certFile/keyFile when given.
func Client(url, caFile, certFile, keyFile string) (*httpapi.Client, error) {
	c, err := httpapi.NewClient(url)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(url, "https://") {
		return c, nil
	}
	var caPEM []byte
	if caFile != "" {
		if caPEM, err = os.ReadFile(caFile); err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
	}
	var pair *tls.Certificate
	if certFile != "" {
		p, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("device certificate: %w", err)
		}
		pair = &p
	}
	cfg, err := pki.ClientConfig(caPEM, pair)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", caFile, err)
	}
	c.UseTLS(cfg)
	return c, nil
}
