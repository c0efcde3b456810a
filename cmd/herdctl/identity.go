package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

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

func (m *Main) operatorAdd(ctx context.Context, c *httpapi.Client, args []string) error {
	fl := flag.NewFlagSet("herdctl operator add", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	roles := fl.String("role", "", "role(s), comma-separated: analyst, support, privacy-officer, admin")
	pos, err := cli.Parse(fl, args)
	if err != nil {
		return usageError("operator add: " + err.Error())
	}
	if len(pos) != 1 || *roles == "" {
		return usageError("operator add: want NAME --role ROLE[,ROLE]")
	}
	res, err := c.CreateOperator(ctx, pos[0], strings.Split(*roles, ","))
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "operator %s: %s\ntoken: %s\n(the token is shown once: keep it in a file of mode 0600 and pass it with --token-file)\n", res.Name, strings.Join(res.Roles, ", "), res.Token)
	return nil
}

func (m *Main) operatorList(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 0 {
		return usageError("operator list: takes no argument")
	}
	res, err := c.Operators(ctx)
	if err != nil {
		return err
	}
	m.printJSON(res)
	return nil
}

func (m *Main) operatorRemove(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 1 {
		return usageError("operator remove: want NAME")
	}
	if err := c.RemoveOperator(ctx, args[0]); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "operator %s removed: its token no longer works\n", args[0])
	return nil
}

func (m *Main) auditShow(ctx context.Context, c *httpapi.Client, args []string) error {
	fl := flag.NewFlagSet("herdctl audit show", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	last := fl.Int("last", 20, "how many of the newest entries")
	if _, err := cli.Parse(fl, args); err != nil {
		return usageError("audit show: " + err.Error())
	}
	res, err := c.AuditLog(ctx, *last)
	if err != nil {
		return err
	}
	for _, e := range res.Entries {
		fmt.Fprintf(m.Stdout, "%6d  %s  %-16s %s  %s\n", e.Seq, e.Time.Format("2006-01-02 15:04:05Z"), e.Operator, e.Action, e.Target)
	}
	return nil
}

func (m *Main) auditVerify(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 0 {
		return usageError("audit verify: takes no argument")
	}
	r, err := c.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("audit log: chain broken at entry %d: %s (%d entries read)", r.BadSeq, r.Problem, r.Entries)
	}
	fmt.Fprintf(m.Stdout, "audit log: %d entries, chain intact; head %s\n", r.Entries, r.Head)
	return nil
}

func (m *Main) personExport(ctx context.Context, c *httpapi.Client, args []string) error {
	fl := flag.NewFlagSet("herdctl person export", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	out := fl.String("out", "", "write the export to `FILE` (mode 0600) instead of standard output")
	pos, err := cli.Parse(fl, args)
	if err != nil {
		return usageError("person export: " + err.Error())
	}
	if len(pos) != 1 {
		return usageError("person export: want LICENSE-ID [--out FILE]")
	}
	ex, err := c.ExportPerson(ctx, pos[0])
	if err != nil {
		return err
	}
	return m.writeExport(ex, *out)
}

// writeExport writes v as indented JSON to path (mode 0600), or to
// standard output.
func (m *Main) writeExport(v any, path string) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "" {
		_, err := m.Stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(m.Stderr, "export written to %s (%d bytes)\n", path, len(b))
	return nil
}

func (m *Main) personDelete(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 1 {
		return usageError("person delete: want LICENSE-ID")
	}
	res, err := c.DeletePerson(ctx, args[0])
	if err != nil {
		return err
	}
	m.printJSON(res)
	if !res.Verified {
		return fmt.Errorf("person %s: erasure not verified: data was found again after erasing; run it again", args[0])
	}
	return nil
}
