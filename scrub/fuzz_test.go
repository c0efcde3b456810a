package scrub

import (
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/zricethezav/gitleaks/v8/detect"
)

var (
	refOnce sync.Once
	refDet  *detect.Detector
)

// referenceDetector returns gitleaks' default detector, used whole, to check
// that nothing it finds survives Text.
func referenceDetector(tb testing.TB) *detect.Detector {
	tb.Helper()
	secretScan() // both use viper's global instance: never at the same time
	refOnce.Do(func() {
		d, err := detect.NewDetectorDefaultConfig()
		if err != nil {
			tb.Fatalf("gitleaks default config: %v", err)
		}
		d.IgnoreGitleaksAllow = true
		refDet = d
	})
	return refDet
}

// Seeds shared by the fuzz tests: the shapes the scrubbers look for.
var fuzzSeeds = []string{
	"",
	"https://alice:hunter2@Example.COM:8443/u/alice@example.com/12345678?utm_source=x&page=2&token=abc#frag",
	"https://bucket.s3.amazonaws.com/f?X-Amz-Credential=AKIAQYLPMN5HHHFPZAM2%2F20240115&X-Amz-Signature=fe5f80f7",
	"https://app.example.com/cb?code=4/0AfJohXn8&state=xyz123&redirect_uri=https%3A%2F%2Fa.example%2F%3Fsid%3D1",
	"http://[2001:db8::1]:8080/a/3f2504e0-4f89-11d3-9a0c-0305e82c3301",
	"http://3279880203/blah", "http://host/%25%32%35", "http://www.google.com/foo\tbar\rbaz\n2",
	"curl -u alice:S3cret -H 'Authorization: Bearer abcdef123456' https://api.example.com/v1?api_key=xyz",
	"export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
	"mysql -u root -pS3cretPassw0rd -h 10.0.0.5 mydb",
	"psql postgres://bob:hunter2@db.example.com:5432/app?sslmode=require",
	"echo ghp_R2d4e6g8i0k2m4o6q8s0u2w4y6A8C0E2G4I6 xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
	"stripe --api-key sk_live_4eC39HqLyjWDarjtT1zdp7dc",
	"vim /home/alice/notes/alice-todo.txt && scp f bob@host:/tmp",
	`"C:\Users\John Smith\AppData\Local\Temp\setup.exe" /user=jsmith`,
	"call +1 (555) 123-4567 or 030 1234567, card 4111 1111 1111 1111, iban DE89 3704 0044 0532 0130 00",
	"ping 192.168.1.20 fe80::1ff:fe23:4567:890a ::ffff:192.0.2.1 aa:bb:cc:dd:ee:ff",
	`{"password":"hunter2","user":"alice","apiKey":"abc"}`,
	"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
	"S-1-5-21-3623811015-3361044348-30300820-1013", "192.0.2.33", "2002:c000:221::1", "::ffff:10.1.2.3",
	"/var/mail/alice", `\Device\HarddiskVolume3\Users\bob\x.exe`, "d:/users/Alice/alice.docx",
	"<secret:x> <email> <user>@", "a@b.cc@d.ee", "4111-1111-1111-1111-4111111111111111",
	`net use Z: \\fs01\Finance Dept & \\?\UNC\fs01\home$\alice\x "\\\\nas\\share"`,
	`\Device\Mup\;LanmanRedirector\;Z:0000a1\fs01\f\x \\wsl$\Ubuntu\home\alice`,
	"mount -t cifs //nas/alice /mnt/x; open smb://nas/Photos; /run/media/alice/USB /media/bob/x",
	"/run/user/1000/gvfs/smb-share:server=nas,share=alice,user=bob/x",
	"echo AKIAIOSFODNN7EXAMPLE ASIA2222222222222222; id 123456789012 S-1-5-80-956008885-3418522649",
	`--client-ref CUST000012345678ABCD {"ref": "AB12CD34EF56GH78IJ90"} -enc SQBFAFgAIAAoAE4AZQB3AC0A`,
}

var (
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
	digitRE = regexp.MustCompile(`[0-9]+`)
	cardRE  = regexp.MustCompile(`[0-9]{4}[ -][0-9]{4}[ -][0-9]{4}[ -][0-9]{4}`)
)

// hasCard reports whether s holds a Luhn-valid card number: a run of 13–19
// digits on its own, or four groups of four.
func hasCard(s string) bool {
	for _, m := range digitRE.FindAllString(s, -1) {
		if len(m) >= 13 && len(m) <= 19 && luhn(m) {
			return true
		}
	}
	for _, m := range cardRE.FindAllStringIndex(s, -1) {
		if (m[0] == 0 || !isDigit(s[m[0]-1])) && (m[1] == len(s) || !isDigit(s[m[1]])) && luhn(s[m[0]:m[1]]) {
			return true
		}
	}
	return false
}

func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
}

func FuzzURL(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		out, hits, ok := URL(s)
		if !ok {
			if out != "" || hits != 0 {
				t.Fatalf("URL(%.300q) dropped but returned %.300q, %d", s, out, hits)
			}
			return
		}
		out2, hits2, ok2 := URL(out)
		if !ok2 || out2 != out || hits2 != 0 {
			t.Fatalf("URL not idempotent:\n in  %.300q\n out %.300q\n 2nd %.300q %d %v", s, out, out2, hits2, ok2)
		}
		if u, err := url.Parse(out); err != nil || u.User != nil {
			t.Fatalf("URL(%.300q) = %.300q: kept user information or does not parse (%v)", s, out, err)
		}
		if strings.IndexByte(out, '#') >= 0 {
			t.Fatalf("URL(%.300q) = %.300q: kept a fragment", s, out)
		}
		if emailRE.MatchString(out) {
			t.Fatalf("URL(%.300q) = %.300q: kept an e-mail address", s, out)
		}
	})
}

func FuzzCanonicalize(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Canonicalize(s)
		if err != nil {
			return
		}
		out2, err := Canonicalize(out)
		if err != nil || out2 != out {
			t.Fatalf("Canonicalize not idempotent:\n in  %.300q\n out %.300q\n 2nd %.300q %v", s, out, out2, err)
		}
	})
}

func FuzzIP(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		out, ok := IP(s)
		if !ok {
			return
		}
		out2, ok2 := IP(out)
		if !ok2 || out2 != out || truncates(out) {
			t.Fatalf("IP not idempotent: %.300q → %.300q → %.300q %v", s, out, out2, ok2)
		}
	})
}

func FuzzPath(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		out, _ := Path(s)
		out2, hits2 := Path(out)
		if out2 != out || hits2 != 0 {
			t.Fatalf("Path not idempotent:\n in  %.300q\n out %.300q\n 2nd %.300q %d", s, out, out2, hits2)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("Path(%.300q) = %.300q: invalid UTF-8", s, out)
		}
	})
}

func FuzzText(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		out, _ := Text(s)
		out2, hits2 := Text(out)
		if out2 != out || hits2 != 0 {
			t.Fatalf("Text not idempotent:\n in  %.300q\n out %.300q\n 2nd %.300q %d", s, out, out2, hits2)
		}
		if m := emailRE.FindString(out); m != "" {
			t.Fatalf("Text(%.300q) = %.300q: kept e-mail %.300q", s, out, m)
		}
		if hasCard(out) {
			t.Fatalf("Text(%.300q) = %.300q: kept a card number", s, out)
		}
		if i, _ := findAWSKeyID(out, 0); i >= 0 {
			t.Fatalf("Text(%.300q) = %.300q: kept an AWS access key id", s, out)
		}
		if d := referenceDetector(t); d != nil {
			for _, f := range d.DetectString(out) {
				t.Fatalf("Text(%.300q) = %.300q: gitleaks still finds %s %.300q", s, out, f.RuleID, f.Secret)
			}
		}
	})
}
