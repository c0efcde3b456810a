package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/herdsec/herd/agent/hardware"
	"github.com/herdsec/herd/agent/report"
	"github.com/herdsec/herd/agent/state"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity"
	"github.com/herdsec/herd/identity/pki"
	"github.com/herdsec/herd/internal/cli"
)

// Files of an enrolled agent, in the state folder's tls folder: the cloud's
// CA, the device certificate and its key, and the cloud enrolled with.
const (
	tlsDir        = "tls"
	deviceCert    = "device.pem"
	deviceKey     = "device.key"
	enrolledCloud = "cloud"
)

// cloudURL returns the cloud to talk to: --cloud, $HERD_CLOUD, the cloud
// this agent enrolled with, else the default.
func (m *Main) cloudURL(g globals, flagValue string) string {
	if flagValue == "" && strings.TrimSpace(m.Getenv("HERD_CLOUD")) == "" && g.state != "" {
		if b, err := os.ReadFile(filepath.Join(g.state, tlsDir, enrolledCloud)); err == nil {
			if u := strings.TrimSpace(string(b)); u != "" {
				return u
			}
		}
	}
	return cli.Cloud(flagValue, m.Getenv)
}

// client returns an API client of the cloud at url: it trusts --ca, else
// $HERD_CA, else the CA this agent enrolled with, and presents the device
// certificate once enrolled.
func (m *Main) client(g globals, url string) (*httpapi.Client, error) {
	var certFile, keyFile, enrolledCA string
	if g.state != "" {
		dir := filepath.Join(g.state, tlsDir)
		enrolledCA = filepath.Join(dir, pki.CAFile)
		if _, err := os.Stat(filepath.Join(dir, deviceCert)); err == nil {
			certFile, keyFile = filepath.Join(dir, deviceCert), filepath.Join(dir, deviceKey)
		}
	}
	return cli.Client(url, cli.CA(g.ca, m.Getenv, enrolledCA), certFile, keyFile)
}

// enrollCmd enrolls this device: it makes a key pair, sends a certificate
// request with the licence key and the hardware fingerprint over TLS to a
// cloud trusted by its CA fingerprint (or CA file), and keeps the device
// certificate, its key and the CA in STATE/tls. From then on every command
// authenticates with that certificate.
func (m *Main) enrollCmd(ctx context.Context, g globals, args []string) int {
	fail := func(err error) int {
		fmt.Fprintln(m.Stderr, "herd enroll:", err)
		return ExitError
	}
	fl := flag.NewFlagSet("herd enroll", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	licence := fl.String("license", "", "licence `key` (herdctl license create prints it)")
	fingerprint := fl.String("ca-fingerprint", "", "SHA-256 `fingerprint` of the cloud's CA (herdd prints it; herdctl ca fingerprint)")
	name := fl.String("name", "", "a display `name` for this device (optional)")
	cloudFlag := fl.String("cloud", g.cloud, "cloud `URL`")
	rest, err := cli.Parse(fl, args)
	if err != nil {
		return ExitError
	}
	if len(rest) > 0 {
		return fail(fmt.Errorf("unexpected argument %q", rest[0]))
	}
	if *licence == "" {
		return fail(errors.New("--license KEY is required"))
	}
	url := cli.Cloud(*cloudFlag, m.Getenv)
	if !strings.HasPrefix(url, "https://") {
		return fail(fmt.Errorf("cloud %s: enrollment needs https://", url))
	}
	caFile := cli.CA(g.ca, m.Getenv)
	// Enrolled before: present the current certificate, so that the cloud
	// renews this device rather than replacing it.
	var certFile, keyFile string
	if _, err := os.Stat(filepath.Join(g.state, tlsDir, deviceCert)); err == nil {
		certFile, keyFile = filepath.Join(g.state, tlsDir, deviceCert), filepath.Join(g.state, tlsDir, deviceKey)
	}
	var c *httpapi.Client
	switch {
	case *fingerprint != "":
		u, err := neturl.Parse(url)
		if err != nil {
			return fail(err)
		}
		cfg, err := pki.PinnedConfig(*fingerprint, u.Hostname())
		if err != nil {
			return fail(err)
		}
		if certFile != "" {
			if pair, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
				cfg.Certificates = []tls.Certificate{pair}
			}
		}
		if c, err = httpapi.NewClient(url); err != nil {
			return fail(err)
		}
		c.UseTLS(cfg)
	default:
		// A CA file, or the system's CAs for a cloud with a public certificate.
		if c, err = cli.Client(url, caFile, certFile, keyFile); err != nil {
			return fail(err)
		}
	}
	hw := m.Hardware
	if hw == nil {
		hw = hardware.Fingerprint
	}
	fp, err := hw()
	if err != nil {
		return fail(err)
	}
	st, err := state.Open(g.state)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	device, err := st.DeviceID()
	if err != nil {
		return fail(err)
	}
	key, csr, err := pki.NewKey()
	if err != nil {
		return fail(err)
	}
	res, err := c.Enroll(ctx, identity.EnrollRequest{
		LicenceKey: *licence, CSR: string(csr), Hardware: fp, Device: device,
		OS: runtime.GOOS, Arch: runtime.GOARCH, Version: agentVersion(), Name: *name,
	})
	if err != nil {
		return fail(err)
	}
	// The certificate must be for this key, from the CA this agent trusts.
	cert, err := pki.ParseCertificatePEM([]byte(res.Certificate))
	if err != nil {
		return fail(fmt.Errorf("the cloud's answer: %w", err))
	}
	ca, err := pki.ParseCertificatePEM([]byte(res.CA))
	if err != nil {
		return fail(fmt.Errorf("the cloud's answer: CA: %w", err))
	}
	if *fingerprint != "" {
		want, _ := pki.NormalizeFingerprint(*fingerprint)
		if pki.Fingerprint(ca) != want {
			return fail(errors.New("the cloud's answer names another CA than the fingerprint given"))
		}
	}
	if err := cert.CheckSignatureFrom(ca); err != nil || !key.PublicKey.Equal(cert.PublicKey) || cert.Subject.CommonName != res.Device {
		return fail(errors.New("the cloud's answer: the certificate is not for this device's key, or not from its CA"))
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return fail(err)
	}
	dir := filepath.Join(g.state, tlsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{deviceKey, keyPEM, 0o600},
		{deviceCert, []byte(res.Certificate), 0o644},
		{pki.CAFile, []byte(res.CA), 0o644},
		{enrolledCloud, []byte(url + "\n"), 0o644},
	} {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fail(err)
		}
	}
	if res.Device != device {
		// The cloud bound this machine to the device it enrolled before (a
		// reinstall): take that device's id, and tell the cloud this
		// device's consent again under it.
		if err := st.SetDeviceID(res.Device); err != nil {
			return fail(err)
		}
		if err := st.Delete(report.KeyConsentSynced); err != nil {
			return fail(err)
		}
	}
	how := "a new seat"
	switch {
	case res.Renewed:
		how = "renewed"
	case res.Rebound:
		how = "the seat this machine held before; the device enrolled before is retired"
	}
	fmt.Fprintf(m.Stdout, "enrolled: device %s, license %s (%s); certificate valid until %s\n", res.Device, res.Licence, how, res.NotAfter.Format("2006-01-02"))
	return ExitClean
}

// writeFileAtomic writes a file through a temporary one.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// agentVersion is this build's module version ("(devel)" for a source build).
func agentVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// myDataCmd exports or erases what the cloud keeps about this device.
func (m *Main) myDataCmd(ctx context.Context, g globals, args []string) int {
	fail := func(err error) int {
		fmt.Fprintln(m.Stderr, "herd my-data:", err)
		return ExitError
	}
	if len(args) == 0 || args[0] != "export" && args[0] != "delete" {
		return fail(errors.New("want export [--out FILE] or delete"))
	}
	fl := flag.NewFlagSet("herd my-data "+args[0], flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	out := fl.String("out", "", "write the export to `FILE` (mode 0600) instead of standard output")
	rest, err := cli.Parse(fl, args[1:])
	if err != nil {
		return ExitError
	}
	if len(rest) > 0 {
		return fail(fmt.Errorf("unexpected argument %q", rest[0]))
	}
	c, err := m.client(g, m.cloudURL(g, g.cloud))
	if err != nil {
		return fail(err)
	}
	var v any
	if args[0] == "export" {
		if v, err = c.ExportMyData(ctx); err != nil {
			return fail(err)
		}
	} else {
		res, err := c.DeleteMyData(ctx)
		if err != nil {
			return fail(err)
		}
		v = res
		// The cloud no longer knows this device: forget the enrollment.
		if err := os.RemoveAll(filepath.Join(g.state, tlsDir)); err != nil {
			return fail(err)
		}
		if !res.Verified {
			fmt.Fprintln(m.Stderr, "herd my-data: erasure not verified: data was found again after erasing")
		}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fail(err)
	}
	b = append(b, '\n')
	if *out != "" {
		if err := os.WriteFile(*out, b, 0o600); err != nil {
			return fail(err)
		}
		return ExitClean
	}
	m.Stdout.Write(b)
	return ExitClean
}
