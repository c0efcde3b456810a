package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/internal/cli"
)

func (m *Main) licenseCreate(ctx context.Context, c *httpapi.Client, args []string) error {
	fl := flag.NewFlagSet("herdctl license create", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	seats := fl.Int("seats", 0, "how many devices may enroll")
	contact := fl.String("contact", "", "e-mail of the person the licence is for (optional)")
	name := fl.String("name", "", "their display name (optional)")
	pos, err := cli.Parse(fl, args)
	if err != nil {
		return usageError("license create: " + err.Error())
	}
	if len(pos) != 0 || *seats == 0 {
		return usageError("license create: want --seats N [--contact EMAIL] [--name NAME]")
	}
	res, err := c.CreateLicence(ctx, httpapi.LicenceRequest{Seats: *seats, Contact: *contact, Name: *name})
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "license %s: %d seats\nkey: %s\n(the key is shown once: the cloud keeps only a keyed hash of it)\n", res.ID, res.Seats, res.Key)
	return nil
}

func (m *Main) licenseShow(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 1 {
		return usageError("license show: want LICENSE-ID")
	}
	res, err := c.Licence(ctx, args[0])
	if err != nil {
		return err
	}
	m.printJSON(res)
	return nil
}

func (m *Main) deviceRevoke(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 1 {
		return usageError("device revoke: want DEVICE-ID")
	}
	d, err := c.RevokeDevice(ctx, args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "device %s revoked at %s: its certificate is refused and its seat on license %s is free\n", d.ID, d.Revoked.Format("2006-01-02 15:04:05Z"), d.Licence)
	return nil
}
