package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/internal/cli"
	"github.com/herdsec/herd/transparency"
)

// transparencyUsage is the transparency register's part of herdctl's usage.
const transparencyUsage = `  transparency register --type access|deletion|authority-disclosure
        --requester person|authority [--authority-kind law-enforcement|government|other]
        --country CC [--reference REF] [--received YYYY-MM-DD]
                              register a request for user data (REF: a case number,
                              never personal data); prints its id
  transparency list           every request: state, type, country, received
  transparency review ID      start the legal review of a received request
  transparency approve ID --reasons TEXT
  transparency reject ID --reasons TEXT
                              the privacy officer's decision, with reasons
  transparency fulfil ID --disclosed TEXT
                              record what was disclosed (approved requests only)
  transparency report PERIOD [--html FILE]
                              counts of a half-year (e.g. 2026H2) by type, country
                              and outcome, as JSON, or as an HTML page to FILE
`

// transparencyCommands are the transparency register's commands.
func (m *Main) transparencyCommands() map[string]func(context.Context, *httpapi.Client, []string) error {
	return map[string]func(context.Context, *httpapi.Client, []string) error{
		"transparency register": m.transparencyRegister,
		"transparency list":     m.transparencyList,
		"transparency review":   m.transparencyReview,
		"transparency approve":  m.transparencyDecide(true),
		"transparency reject":   m.transparencyDecide(false),
		"transparency fulfil":   m.transparencyFulfil,
		"transparency report":   m.transparencyReport,
	}
}

func (m *Main) transparencyRegister(ctx context.Context, c *httpapi.Client, args []string) error {
	fl := flag.NewFlagSet("herdctl transparency register", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	typ := fl.String("type", "", "`TYPE`: access, deletion or authority-disclosure")
	requester := fl.String("requester", "", "`WHO`: person or authority")
	kind := fl.String("authority-kind", "", "`KIND`: law-enforcement, government or other (authority requests)")
	country := fl.String("country", "", "ISO 3166-1 alpha-2 `CODE` of the requester's country")
	ref := fl.String("reference", "", "your `REF`erence (case number; never personal data)")
	received := fl.String("received", "", "when the request arrived: `DATE` (YYYY-MM-DD, or RFC 3339); default now")
	pos, err := cli.Parse(fl, args)
	if err != nil {
		return usageError("transparency register: " + err.Error())
	}
	if len(pos) != 0 || *typ == "" || *requester == "" || *country == "" {
		return usageError("transparency register: want --type T --requester person|authority --country CC")
	}
	n := transparency.New{Type: transparency.Type(*typ), Requester: transparency.Requester(*requester),
		AuthorityKind: transparency.AuthorityKind(*kind), Country: *country, Reference: *ref}
	if *received != "" {
		t, err := time.Parse(time.DateOnly, *received)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, *received); err != nil {
				return usageError(fmt.Sprintf("transparency register: --received %q: want YYYY-MM-DD or RFC 3339", *received))
			}
		}
		n.Received = t
	}
	r, err := c.RegisterRequest(ctx, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "%s %s\n", r.ID, r.State)
	return nil
}

func (m *Main) transparencyList(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 0 {
		return usageError("transparency list: takes no argument")
	}
	l, err := c.TransparencyRequests(ctx)
	if err != nil {
		return err
	}
	if len(l.Requests) == 0 {
		fmt.Fprintln(m.Stdout, "no requests")
		return nil
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tTYPE\tREQUESTER\tCOUNTRY\tRECEIVED\tREFERENCE")
	for _, r := range l.Requests {
		who := string(r.Requester)
		if r.AuthorityKind != "" {
			who += "/" + string(r.AuthorityKind)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.State, r.Type, who, r.Country, r.Received.Format("2006-01-02"), oneLine(r.Reference))
	}
	return tw.Flush()
}

// oneLine keeps a table row on one line.
func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\t", " ").Replace(s)
}

func (m *Main) transparencyReview(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 1 {
		return usageError("transparency review: want ID")
	}
	r, err := c.StartReview(ctx, args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "%s %s\n", r.ID, r.State)
	return nil
}

func (m *Main) transparencyDecide(approve bool) func(context.Context, *httpapi.Client, []string) error {
	verb := "reject"
	if approve {
		verb = "approve"
	}
	return func(ctx context.Context, c *httpapi.Client, args []string) error {
		fl := flag.NewFlagSet("herdctl transparency "+verb, flag.ContinueOnError)
		fl.SetOutput(m.Stderr)
		reasons := fl.String("reasons", "", "the legal `TEXT` the decision rests on")
		pos, err := cli.Parse(fl, args)
		if err != nil {
			return usageError("transparency " + verb + ": " + err.Error())
		}
		if len(pos) != 1 || *reasons == "" {
			return usageError("transparency " + verb + ": want ID --reasons TEXT")
		}
		r, err := c.Decide(ctx, pos[0], approve, *reasons)
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "%s %s\n", r.ID, r.State)
		return nil
	}
}

func (m *Main) transparencyFulfil(ctx context.Context, c *httpapi.Client, args []string) error {
	fl := flag.NewFlagSet("herdctl transparency fulfil", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	disclosed := fl.String("disclosed", "", "what was disclosed or erased: `TEXT` (categories and scope)")
	pos, err := cli.Parse(fl, args)
	if err != nil {
		return usageError("transparency fulfil: " + err.Error())
	}
	if len(pos) != 1 || *disclosed == "" {
		return usageError("transparency fulfil: want ID --disclosed TEXT")
	}
	r, err := c.Fulfil(ctx, pos[0], *disclosed)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "%s %s\n", r.ID, r.State)
	return nil
}

func (m *Main) transparencyReport(ctx context.Context, c *httpapi.Client, args []string) error {
	fl := flag.NewFlagSet("herdctl transparency report", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	htmlFile := fl.String("html", "", "write the report as an HTML page to `FILE` (never over an existing file)")
	pos, err := cli.Parse(fl, args)
	if err != nil {
		return usageError("transparency report: " + err.Error())
	}
	if len(pos) != 1 {
		return usageError("transparency report: want PERIOD (e.g. 2026H2) [--html FILE]")
	}
	if _, err := transparency.ParsePeriod(pos[0]); err != nil {
		return usageError("transparency report: " + herd.ErrorMessage(err))
	}
	rep, err := c.TransparencyReport(ctx, pos[0])
	if err != nil {
		return err
	}
	if *htmlFile == "" {
		m.printJSON(rep)
		return nil
	}
	f, err := os.OpenFile(*htmlFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := rep.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "report %s: %d requests, written to %s\n", rep.Period, rep.Total, *htmlFile)
	return nil
}
