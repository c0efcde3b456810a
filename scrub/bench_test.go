package scrub

import (
	"testing"
)

// mixEvent is one value of a realistic event mix and the rule it goes through.
type mixEvent struct {
	rule Rule
	v    string
}

// benchMix is a realistic mix of what agents send: process starts with their
// command lines (2 of 10 carry a credential: one passed by name, one that only
// gitleaks recognizes — far more than real command lines do), URL checks,
// detections with file paths, a file hash and a client address.
var benchMix = []mixEvent{
	{RuleText, `"C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --disable-background-timer-throttling --field-trial-handle=1788,i,4210391,1450932 /prefetch:1`},
	{RuleText, `C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule`},
	{RuleText, `/usr/bin/python3 /home/alice/projects/web/manage.py runserver 0.0.0.0:8000`},
	{RuleText, `git clone https://github.com/acme/widgets.git /Users/alice/src/widgets`},
	{RuleText, `powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\Users\alice\Downloads\setup.ps1`},
	{RuleText, `ssh -i /home/bob/.ssh/id_ed25519 bob@build.example.com`},
	{RuleText, `curl -sS -H "Authorization: Bearer ghp_R2d4e6g8i0k2m4o6q8s0u2w4y6A8C0E2G4I6" https://api.github.com/user/repos?per_page=100`},
	{RuleText, `npm config set //registry.npmjs.org/:_authToken npm_R2d4e6g8i0k2m4o6q8s0u2w4y6A8C0E2G4I6`},
	{RuleText, `/bin/bash -c "cd /var/www/app && npm ci --omit=dev && npm run build"`},
	{RuleText, `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe -nop -w hidden -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=`},
	{RuleURL, `https://www.example.com/products/shoes?color=red&size=42&utm_source=newsletter&utm_medium=email`},
	{RuleURL, `https://accounts.google.com/o/oauth2/v2/auth?client_id=4052.apps.googleusercontent.com&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&response_type=code&scope=openid%20email&state=af0ifjsldkj`},
	{RuleURL, `https://news.ycombinator.com/item?id=38830000`},
	{RuleURL, `https://bucket.s3.amazonaws.com/report.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAQYLPMN5HHHFPZAM2%2F20240115%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240115T120000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024`},
	{RuleURL, `https://mail.example.com/mail/u/0/#inbox/FMfcgzGwHLxyzQ`},
	{RuleURL, `http://192.0.2.10:8080/login.php`},
	{RulePath, `C:\Users\alice\AppData\Local\Temp\7zS4A3B\setup.exe`},
	{RulePath, `/home/bob/Downloads/invoice_2024.pdf.exe`},
	{RulePath, `/Users/carol/Library/Caches/com.example.app/tmp/payload.dylib`},
	{RulePath, `/tmp/.X11-unix/.hidden/kworker`},
	{RuleHash, `275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F`},
	{RuleIP, `203.0.113.77`},
}

// BenchmarkMix reports how many values of benchMix one core scrubs per second.
func BenchmarkMix(b *testing.B) {
	Warm() // built once per process, not per event
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, e := range benchMix {
			if _, _, ok := Apply(e.rule, e.v); !ok {
				b.Fatalf("%s %q dropped", e.rule, e.v)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

func benchRule(b *testing.B, rule Rule) {
	secretScan()
	var vs []string
	for _, e := range benchMix {
		if e.rule == rule {
			vs = append(vs, e.v)
		}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, v := range vs {
			Apply(rule, v)
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/value")
}

func BenchmarkText(b *testing.B) { benchRule(b, RuleText) }
func BenchmarkURL(b *testing.B)  { benchRule(b, RuleURL) }
func BenchmarkPath(b *testing.B) { benchRule(b, RulePath) }
func BenchmarkIP(b *testing.B)   { benchRule(b, RuleIP) }
func BenchmarkHash(b *testing.B) { benchRule(b, RuleHash) }

func BenchmarkTextEach(b *testing.B) {
	secretScan()
	for i, e := range benchMix {
		if e.rule != RuleText {
			continue
		}
		b.Run(string(rune('a'+i)), func(b *testing.B) {
			for b.Loop() {
				Text(e.v)
			}
		})
	}
}

func BenchmarkCanonicalize(b *testing.B) {
	var vs []string
	for _, e := range benchMix {
		if e.rule == RuleURL {
			vs = append(vs, e.v)
		}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, v := range vs {
			Canonicalize(v)
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/value")
}

// BenchmarkDetectStringDefault is the cost this package avoids: gitleaks'
// default detector on every command line.
func BenchmarkDetectStringDefault(b *testing.B) {
	d := referenceDetector(b)
	n := 0
	for b.Loop() {
		for _, e := range benchMix {
			if e.rule == RuleText {
				d.DetectString(e.v)
				n++
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/value")
}
