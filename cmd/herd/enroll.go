package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/herdsec/herd/httpapi"
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
