package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity/pki"
	"github.com/herdsec/herd/internal/cli"
)

// DefaultData is herdd's data folder when run with defaults: herdctl finds
// the admin token and the cloud's CA there.
const DefaultData = "herd-data"

// Main is the operator CLI. Tests run it with their own writers.
type Main struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// NewMain returns a Main on the process's standard streams.
func NewMain() *Main { return &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv} }

const usage = `Usage: herdctl [--cloud URL] [--data DIR] [--token-file FILE] [--ca FILE] COMMAND [ARGS]

Commands:
  ca fingerprint              the SHA-256 fingerprint of the cloud's CA (read from
                              DIR/tls/ca.pem, or --ca FILE; no cloud needed)
  verdict set KIND:VALUE malicious|suspicious|clean --name NAME
  verdict get KIND:VALUE
  verdict explain KIND:VALUE  the verdict, the fleet's evidence and every decision with reasons
  verdict import FILE...      verdicts from ClamAV hash signatures (.hdb, .hsb),
                              STIX 2.1 bundles (.json) or CSV (.csv); every file
                              is checked first, one bad item imports nothing
  verdict export --format stix|csv [--out FILE]
                              every stored verdict, sorted by object
                              (--format defaults from FILE's extension)
  telemetry stats
  license create --seats N [--contact EMAIL] [--name NAME]
                              a licence; prints its key (shown once) for herd enroll
  license show LICENSE-ID     seats, and the devices holding them
  device revoke DEVICE-ID     refuse the device's certificate, free its seat
  operator add NAME --role ROLE[,ROLE]
                              an operator (roles: analyst, support, privacy-officer,
                              admin); prints its token, once
  operator list | operator remove NAME
  audit show [--last N]       the newest audit entries (every admin action)
  audit verify                check the audit log's hash chain; exit 1 if broken
  person export LICENSE-ID [--out FILE]
                              everything kept about a licence's holder (JSON)
  person delete LICENSE-ID    erase all of it (telemetry, consent, identity, the
                              licence's data key); prints the confirmation
  samples list                suspicious files agents uploaded, queued ones first
  samples get SHA256 [--out FILE]
                              download one (decrypted; audited) to FILE (mode
                              0600, never over a file), default SHA256.sample
  samples verdict SHA256 malicious|clean|suspicious [--threat NAME]
                              judge it: an operator verdict served to agents
  rules publish FOLDER        sign and serve every Sigma rule (.yml) under FOLDER as the
                              agents' new rule set (admin); one bad rule publishes nothing
  rules show                  the rule set the cloud serves: generation, signer, rules
` + privacyAuditUsage + transparencyUsage + `
KIND is sha256, sha1, md5, url, domain or ip. The cloud defaults to
$HERD_CLOUD, else ` + cli.DefaultCloud + `; DIR (herdd's data folder) to
$HERD_DATA, else ./herd-data; the token file to $HERD_TOKEN_FILE, else
DIR/admin.token; the CA the cloud's certificate must chain to, to $HERD_CA,
else DIR/tls/ca.pem.
`

// Run runs one command and returns the exit status: 0 success, 1 failure, 2 usage.
func (m *Main) Run(ctx context.Context, args []string) int {
	fl := flag.NewFlagSet("herdctl", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	fl.Usage = func() { fmt.Fprint(m.Stderr, usage) }
	cloud := fl.String("cloud", "", "cloud `URL`")
	tokenFile := fl.String("token-file", "", "admin token `file`")
	dataFlag := fl.String("data", "", "herdd's data `folder` (admin token, CA)")
	caFlag := fl.String("ca", "", "CA `file` the cloud's certificate must chain to")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() == 0 {
		fl.Usage()
		return 2
	}
	words := fl.Args()
	commands := map[string]func(context.Context, *httpapi.Client, []string) error{
		"verdict set":     m.verdictSet,
		"verdict get":     m.verdictGet,
		"verdict explain": m.verdictExplain,
		"verdict import":  m.verdictImport,
		"verdict export":  m.verdictExport,
		"telemetry stats": m.telemetryStats,
		"license create":  m.licenseCreate,
		"license show":    m.licenseShow,
		"device revoke":   m.deviceRevoke,
		"operator add":    m.operatorAdd,
		"operator list":   m.operatorList,
		"operator remove": m.operatorRemove,
		"audit show":      m.auditShow,
		"audit verify":    m.auditVerify,
		"person export":   m.personExport,
		"person delete":   m.personDelete,
		"samples list":    m.samplesList,
		"samples get":     m.samplesGet,
		"samples verdict": m.samplesVerdict,
		"rules publish":   m.rulesPublish,
		"rules show":      m.rulesShow,
		"privacy audit":   m.privacyAudit,
	}
	for k, f := range m.transparencyCommands() {
		commands[k] = f
	}
	name := strings.Join(words[:min(2, len(words))], " ")
	data := m.dataDir(*dataFlag)
	if name == "ca fingerprint" {
		return m.caFingerprint(data, *caFlag, words[2:])
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(m.Stderr, "herdctl: unknown command %q\n\n%s", strings.Join(words, " "), usage)
		return 2
	}
	client, err := m.client(*cloud, data, *tokenFile, *caFlag)
	if err != nil {
		fmt.Fprintln(m.Stderr, "herdctl:", err)
		return 1
	}
	if err := cmd(ctx, client, words[2:]); err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintf(m.Stderr, "herdctl: %s\n", string(u))
			return 2
		}
		var e *herd.Error
		if errors.As(err, &e) && len(e.Problems) > 0 {
			fmt.Fprintln(m.Stderr, "herdctl:", strings.TrimSuffix(err.Error(), e.Error())+e.Message)
			for _, p := range e.Problems {
				fmt.Fprintln(m.Stderr, "  ", p.String())
			}
			return 1
		}
		fmt.Fprintln(m.Stderr, "herdctl:", err)
		return 1
	}
	return 0
}

type usageError string

func (u usageError) Error() string { return string(u) }

// dataDir returns herdd's data folder: the flag, $HERD_DATA, else ./herd-data.
func (m *Main) dataDir(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := m.Getenv("HERD_DATA"); v != "" {
		return v
	}
	return DefaultData
}

// caFingerprint prints the fingerprint of the CA in data (or caFile).
func (m *Main) caFingerprint(data, caFile string, args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(m.Stderr, "herdctl: ca fingerprint takes no argument, got %q\n", args[0])
		return 2
	}
	path := cli.CA(caFile, m.Getenv, filepath.Join(data, "tls", pki.CAFile))
	if path == "" {
		path = filepath.Join(data, "tls", pki.CAFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(m.Stderr, "herdctl: CA: %v (herdd creates it on first start; use --data DIR or --ca FILE)\n", err)
		return 1
	}
	c, err := pki.ParseCertificatePEM(b)
	if err != nil {
		fmt.Fprintf(m.Stderr, "herdctl: CA %s: %v\n", path, err)
		return 1
	}
	fmt.Fprintln(m.Stdout, pki.Fingerprint(c))
	return 0
}

func (m *Main) client(cloudFlag, data, tokenFlag, caFlag string) (*httpapi.Client, error) {
	c, err := cli.Client(cli.Cloud(cloudFlag, m.Getenv), cli.CA(caFlag, m.Getenv, filepath.Join(data, "tls", pki.CAFile)), "", "")
	if err != nil {
		return nil, err
	}
	path := tokenFlag
	if path == "" {
		path = m.Getenv("HERD_TOKEN_FILE")
	}
	if path == "" {
		path = filepath.Join(data, "admin.token")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, herd.Errorf(herd.EUNAUTHORIZED, "admin token: %v (use --token-file)", err)
	}
	c.Token = strings.TrimSpace(string(b))
	return c, nil
}

func (m *Main) verdictSet(ctx context.Context, c *httpapi.Client, args []string) error {
	fl := flag.NewFlagSet("herdctl verdict set", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	name := fl.String("name", "", "threat `name`")
	pos, err := cli.Parse(fl, args)
	if err != nil {
		return usageError("verdict set: " + err.Error())
	}
	if len(pos) != 2 {
		return usageError("verdict set: want KIND:VALUE malicious|suspicious|clean --name NAME")
	}
	obj, err := herd.ParseObject(pos[0])
	if err != nil {
		return err
	}
	v := herd.Verdict(pos[1])
	if v != herd.VerdictMalicious && v != herd.VerdictSuspicious && v != herd.VerdictClean {
		return usageError(fmt.Sprintf("verdict set: verdict %q: want malicious, suspicious or clean", pos[1]))
	}
	if *name == "" && v != herd.VerdictClean {
		return usageError("verdict set: --name is required for malicious and suspicious verdicts")
	}
	res, err := c.SetVerdicts(ctx, []httpapi.VerdictInput{{Kind: obj.Kind, Value: obj.Value, Verdict: v, Threat: *name}})
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "%s: %s %s (seq %d)\n", obj, v, *name, res.Seq)
	return nil
}

func (m *Main) verdictGet(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 1 {
		return usageError("verdict get: want KIND:VALUE")
	}
	obj, err := herd.ParseObject(args[0])
	if err != nil {
		return err
	}
	res, err := c.GetVerdict(ctx, obj)
	if err != nil {
		return err
	}
	m.printJSON(res)
	return nil
}

func (m *Main) verdictExplain(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 1 {
		return usageError("verdict explain: want KIND:VALUE")
	}
	obj, err := herd.ParseObject(args[0])
	if err != nil {
		return err
	}
	res, err := c.Explain(ctx, obj)
	if err != nil {
		return err
	}
	w := m.Stdout
	r := res.Record
	fmt.Fprintf(w, "%s\n  verdict: %s", r.Object, r.Verdict)
	if r.Threat != "" {
		fmt.Fprintf(w, " %q", r.Threat)
	}
	if r.Source != "" {
		fmt.Fprintf(w, " (source %s", r.Source)
		if res.Stored {
			fmt.Fprintf(w, ", stored %s", r.Updated.Format(time.RFC3339))
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
	if ev := res.Evidence; ev == nil {
		fmt.Fprintln(w, "  evidence: none reported")
	} else {
		fmt.Fprintf(w, "  evidence: %d devices (%d of unknown licence), first seen %s, last seen %s\n",
			len(ev.Devices), ev.Unlicensed, ev.FirstSeen.Format("2006-01-02T15Z"), ev.LastSeen.Format("2006-01-02T15Z"))
		for _, method := range sortedKeys(ev.Detections) {
			fmt.Fprintf(w, "    detected by %s on %d licences\n", method, len(ev.Detections[method]))
		}
		for _, pub := range sortedKeys(ev.Installs) {
			fmt.Fprintf(w, "    installed from %q on %d licences\n", pub, len(ev.Installs[pub]))
		}
	}
	if len(res.History) == 0 {
		fmt.Fprintln(w, "  history: no decisions recorded")
		return nil
	}
	fmt.Fprintln(w, "  history:")
	for _, h := range res.History {
		state := "applied"
		if !h.Applied {
			state = "not applied"
		}
		fmt.Fprintf(w, "    %s  %s by %s, %s\n", h.Time.Format(time.RFC3339), h.Verdict, h.Source, state)
		for _, reason := range h.Reasons {
			fmt.Fprintf(w, "      - %s\n", reason)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (m *Main) telemetryStats(ctx context.Context, c *httpapi.Client, args []string) error {
	if len(args) != 0 {
		return usageError("telemetry stats: takes no arguments")
	}
	st, err := c.TelemetryStats(ctx)
	if err != nil {
		return err
	}
	m.printJSON(st)
	return nil
}

func (m *Main) printJSON(v any) {
	enc := json.NewEncoder(m.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
