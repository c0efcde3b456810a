package main

import (
	"context"
	"flag"
	"strconv"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/internal/cli"
	"github.com/herdsec/herd/privacyaudit"
)

// privacyAudit runs the cloud's k-anonymity audit over the stored
// telemetry and prints it as a report, or as JSON with --json.
func (m *Main) privacyAudit(ctx context.Context, c *httpapi.Client, args []string) error {
	fl := flag.NewFlagSet("herdctl privacy audit", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	k := fl.Int("k", privacyaudit.DefaultK, "the smallest number of devices a class must hold (2 to 1000)")
	asn := fl.Bool("asn", false, "count the network (ASN) as a quasi-identifier too")
	asJSON := fl.Bool("json", false, "print the audit as JSON")
	pos, err := cli.Parse(fl, args)
	if err != nil {
		return usageError("privacy audit: " + err.Error())
	}
	if len(pos) != 0 {
		return usageError("privacy audit: takes no arguments, only [--k N] [--asn] [--json]")
	}
	// The same check as the cloud's, so that a bad k is a usage error.
	if _, err := privacyaudit.ParseK(strconv.Itoa(*k)); err != nil {
		return usageError("privacy audit: --" + herd.ErrorMessage(err))
	}
	rep, err := c.PrivacyAudit(ctx, privacyaudit.Query{K: *k, ASN: *asn})
	if err != nil {
		return err
	}
	if *asJSON {
		m.printJSON(rep)
		return nil
	}
	return privacyaudit.WriteText(m.Stdout, rep)
}

// privacyAuditUsage is the command's line in herdctl's usage.
const privacyAuditUsage = `  privacy audit [--k N] [--asn] [--json]
                              k-anonymity of the stored telemetry: classes of
                              fewer than N devices (default 5) over type,
                              country, hour (--asn: and network) and each
                              type's descriptive fields, the smallest listed;
                              second-pass scrubbing hits; privacy budget spent
`
