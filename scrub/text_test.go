package scrub

import (
	"strings"
	"sync"
	"testing"
)

func TestText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Secrets gitleaks recognizes by their shape.
		{"aws access key", "aws configure set aws_access_key_id AKIAQYLPMN5HHHFPZAM2", "aws configure set aws_access_key_id <secret:aws-access-token>"},
		{"aws example key", "aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE", "aws configure set aws_access_key_id <secret:aws-access-token>"},
		{"aws low-entropy keys", "terraform import aws_iam_access_key.ci AKIAAAAAAAAAAAAAAAAA; echo ASIA2222222222222222", "terraform import aws_iam_access_key.ci <secret:aws-access-token>; echo <secret:aws-access-token>"},
		{"not aws keys", "AKIAIOSFODNN7EXAMPLE1 xAKIAIOSFODNN7EXAMPLE AKIAIOSFODNN8EXAMPLE", "AKIAIOSFODNN7EXAMPLE1 xAKIAIOSFODNN7EXAMPLE AKIAIOSFODNN8EXAMPLE"},
		{"github classic token", "echo ghp_R2d4e6g8i0k2m4o6q8s0u2w4y6A8C0E2G4I6 | gh auth login --with-token", "echo <secret:github-pat> | gh auth login --with-token"},
		{"github fine-grained token", "gh api user -H 'X: 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'", "gh api user -H 'X: <secret:github-fine-grained-pat>'"},
		{"slack bot token", "slack-cli send xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack-cli send <secret:slack-bot-token>"},
		{"stripe key", "stripe charges list sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe charges list <secret:stripe-access-token>"},
		{"npm token", "npm config set //registry.npmjs.org/:_authToken npm_R2d4e6g8i0k2m4o6q8s0u2w4y6A8C0E2G4I6", "npm config set //registry.npmjs.org/:_authToken <secret:npm-access-token>"},
		{"jwt", "curl -b session=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U x", "curl -b session=<secret:token> x"},
		{"bare jwt", "token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "token <secret:jwt>"},
		{"private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\ndone", "<secret:private-key>\ndone"},
		{"unterminated private key", "key: -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA", "key: <secret:private-key>"},
		{"certificate kept", "-----BEGIN CERTIFICATE-----\nMIIB-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIB-----END CERTIFICATE-----"},
		// Credentials passed by name.
		{"env password", "PGPASSWORD=hunter2 psql -h db -U app", "PGPASSWORD=<secret:password> psql -h db -U app"},
		{"env aws secret", "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY; aws s3 ls", "export AWS_SECRET_ACCESS_KEY=<secret:token>; aws s3 ls"},
		{"password flag", "app --password 'hunter 2' --user=bob --password-file /run/pw", "app --password '<secret:password>' --user=<user> --password-file /run/pw"},
		{"token flag", "vault login -token s3cr3t -method=userpass", "vault login -token <secret:token> -method=userpass"},
		{"json", `{"password":"hunter2","username":"alice","apiKey":"abc","keyword":"cats"}`, `{"password":"<secret:password>","username":"<user>","apiKey":"<secret:token>","keyword":"cats"}`},
		{"yaml", "db.password: hunter2", "db.password: <secret:password>"},
		{"authorization header", `curl -H "Authorization: Bearer abcdef123456" https://api.example.com/v1/items`, `curl -H "Authorization: Bearer <secret:authorization>" https://api.example.com/v1/items`},
		{"cookie header", `curl -H 'Cookie: sid=abc; theme=dark' https://example.com/`, `curl -H 'Cookie: <secret:cookie>' https://example.com/`},
		{"bare bearer", "Bearer abcdefgh12345678", "Bearer <secret:bearer>"},
		{"curl user", "curl -u alice:S3cret https://example.com/", "curl -u <secret:credentials> https://example.com/"},
		{"mysql", "mysql -u root -pS3cretPassw0rd mydb", "mysql -u root -p<secret:password> mydb"},
		{"mysql prompt kept", "mysql -u root -p mydb", "mysql -u root -p mydb"},
		{"sshpass", "sshpass -p hunter2 ssh deploy@10.0.0.5", "sshpass -p <secret:password> ssh <user>@<ip>"},
		{"variable kept", "app --password $DB_PASSWORD --token=${TOKEN}", "app --password $DB_PASSWORD --token=${TOKEN}"},
		// Ids given to names and flags that do not say they are secret.
		{"id flag", "crm-sync --client-ref CUST000012345678ABCD --since 2024-01-15", "crm-sync --client-ref <token> --since 2024-01-15"},
		{"id assignment", `{"orderRef": "ORD20240115A000123456", "device":"dev7g2k9m4p8q1w5e3r6t"}`, `{"orderRef": "<token>", "device":"<token>"}`},
		{"id in yaml", "license_id: aaaa1111bbbb2222cccc", "license_id: <token>"},
		{"hex session id", "/usr/bin/gnome-shell --session-id=2f1c7d3e9a8b4c5d6e7f8091a2b3c4d5", "/usr/bin/gnome-shell --session-id=<token>"},
		{"words and digests kept", "chrome --enable-features=NetworkServiceInProcess2 --variations-seed-version=Windows10Enterprise2024 --sha256=275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f --commit 3395856ce81f2b7382dee72602f798b642f14140", "chrome --enable-features=NetworkServiceInProcess2 --variations-seed-version=Windows10Enterprise2024 --sha256=275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f --commit 3395856ce81f2b7382dee72602f798b642f14140"},
		{"encoded command kept", "powershell -nop -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQAuAEQA", "powershell -nop -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQAuAEQA"},
		{"short options and paths kept", "tar -xf AB12CD34EF56GH78IJ90 -C /srv/AB12CD34EF56GH78IJ90/x", "tar -xf AB12CD34EF56GH78IJ90 -C /srv/AB12CD34EF56GH78IJ90/x"},
		// URLs and connection strings.
		{"url in text", "curl 'https://alice:pw@example.com/x?token=abc&page=2#top'", "curl 'https://example.com/x?page=2'"},
		{"connection string", "psql postgres://bob:hunter2@db.example.com:5432/app?sslmode=require", "psql postgres://db.example.com:5432/app"},
		{"git token url", "git clone https://x-access-token:ghs_R2d4e6g8i0k2m4o6q8s0u2w4y6A8C0E2G4@github.com/acme/app.git", "git clone https://github.com/acme/app.git"},
		// Personal data.
		{"email", "Contact: Alice.Smith+news@example.co.uk.", "Contact: <email>."},
		{"encoded email", "login?next=alice%40example.com", "login?next=<email>"},
		{"ssh user", "ssh -i key alice@buildbox", "ssh -i key <user>@buildbox"},
		{"ssh user and domain: an address", "ssh alice@build.example.com", "ssh <email>"},
		{"git user kept", "ssh git@gitbox", "ssh git@gitbox"},
		{"cards", "pay 4111 1111 1111 1111 or 4111-1111-1111-1111 or 4111111111111111 or 3782 822463 10005", "pay <card> or <card> or <card> or <card>"},
		{"bad card kept", "ref 4111 1111 1111 1112", "ref 4111 1111 1111 1112"},
		{"ibans", "IBAN DE89 3704 0044 0532 0130 00, GB82WEST12345698765432, NL91 ABNA 0417 1643 00", "IBAN <iban>, <iban>, <iban>"},
		{"bad iban kept", "IBAN DE89 3704 0044 0532 0130 02", "IBAN DE89 3704 0044 0532 0130 02"},
		{"phones", "call +1 (555) 123-4567, +44 20 7946 0958, 030 1234567, 555.123.4567 or 06 12 34 56 78", "call <phone>, <phone>, <phone>, <phone> or <phone>"},
		{"not phones", "seq 1000 2000; date 01.02.2024 12:30; v10.0.19041.1; pid 4194304", "seq 1000 2000; date 01.02.2024 12:30; v10.0.19041.1; pid 4194304"},
		{"long numbers", "aws sts assume-role --role-arn arn:aws:iam::123456789012:role/Admin; lookup --customer 100234567", "aws sts assume-role --role-arn arn:aws:iam::<number>:role/Admin; lookup --customer <number>"},
		{"nine digits", "pid 123456789", "pid <number>"},
		{"short numbers and fractions kept", "sleep 86400; dd bs=1M count=1024; train --lr 0.000000001 --seed 42; KB5034441; 0x1234567890", "sleep 86400; dd bs=1M count=1024; train --lr 0.000000001 --seed 42; KB5034441; 0x1234567890"},
		{"service sid kept", `sc sidtype x; icacls y /grant *S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464:F`, `sc sidtype x; icacls y /grant *S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464:F`},
		{"ipv4", "ping -c 3 192.168.1.20 && curl 10.0.0.5:8080", "ping -c 3 <ip> && curl <ip>:8080"},
		{"ipv6", "ping fe80::1ff:fe23:4567:890a%eth0 2001:db8::8a2e:370:7334 ::ffff:192.0.2.1", "ping <ip>%eth0 <ip> <ip>"},
		{"loopback kept", "runserver 0.0.0.0:8000 127.0.0.1 ::1", "runserver 0.0.0.0:8000 127.0.0.1 ::1"},
		{"mac", "ip link set eth0 address 3c:22:fb:12:34:56", "ip link set eth0 address <mac>"},
		{"uuid", "az vm show --subscription 3f2504e0-4f89-11d3-9a0c-0305e82c3301", "az vm show --subscription <uuid>"},
		{"sid", `icacls x /grant *S-1-5-21-3623811015-3361044348-30300820-1013:F /grant *S-1-5-18:F`, `icacls x /grant *<sid>:F /grant *S-1-5-18:F`},
		// Homes and user names.
		{"linux home", "vim /home/alice/notes/alice-todo.txt", "vim ~/notes/<user>-todo.txt"},
		{"windows home with space", `"C:\Users\John Smith\AppData\Local\Temp\setup.exe" /S`, `"%USERPROFILE%\AppData\Local\Temp\setup.exe" /S`},
		{"path list", "PATH=/home/bob/bin:/usr/bin", "PATH=~/bin:/usr/bin"},
		{"removable media", "rsync -a /run/media/alice/Backup/ /srv/backup/alice && ls /media/bob/USB", "rsync -a /run/media/<user>/Backup/ /srv/backup/<user> && ls /media/<user>/USB"},
		{"network drive", `net use Z: \\fs01.corp.example.com\Finance Dept /persistent:yes`, `net use Z: \\<host>\<share> /persistent:yes`},
		{"network path quoted", `robocopy "\\nas01\Projects\Acme Bid" C:\work /E & net view \\nas01`, `robocopy "\\<host>\<share>\Acme Bid" C:\work /E & net view \\<host>`},
		{"network path escaped", `{"src":"\\\\fs01\\Finance\\q3.xlsx","dst":"C:\\Windows\\Temp"}`, `{"src":"\\\\<host>\\<share>\\q3.xlsx","dst":"C:\\Windows\\Temp"}`},
		{"cifs mount", "mount -t cifs //nas.local/alice /mnt/nas -o vers=3.0", "mount -t cifs //<host>/<share> /mnt/nas -o vers=3.0"},
		{"smb url", "open smb://nas.local/Photos/2024", "open smb://<host>/<share>/2024"},
		{"user named like a placeholder", `cp /home/share/a.txt \\fs01\docs\ && echo share`, `cp ~/a.txt \\<host>\<share>\ && echo <user>`},
		{"escapes kept", `grep -P "\\d+\\s" x; grep -E "\\w+" y; printf '%s\\n' z`, `grep -P "\\d+\\s" x; grep -E "\\w+" y; printf '%s\\n' z`},
		{"double slashes kept", "bazel build //src/main:app && cp a//b c", "bazel build //src/main:app && cp a//b c"},
		{"ordinary", `C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule`, `C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule`},
		{"placeholders kept", "<email> <secret:github-pat> <user> <ip>", "<email> <secret:github-pat> <user> <ip>"},
		{"gitleaks:allow ignored", "echo ghp_R2d4e6g8i0k2m4o6q8s0u2w4y6A8C0E2G4I6 # gitleaks:allow", "echo <secret:github-pat> # gitleaks:allow"},
		{"invalid utf-8", "a\xffb", "a\uFFFDb"},
	}
	for _, tt := range tests {
		got, hits := Text(tt.in)
		if got != tt.want {
			t.Errorf("%s: Text(%q)\n = %q\nwant %q", tt.name, tt.in, got, tt.want)
			continue
		}
		if got != tt.in && hits == 0 && !strings.Contains(tt.name, "utf-8") {
			t.Errorf("%s: Text(%q) changed the text but counted no hits", tt.name, tt.in)
		}
		if again, hits := Text(got); again != got || hits != 0 {
			t.Errorf("%s: Text(%q) = %q, %d: not idempotent", tt.name, got, again, hits)
		}
	}
}

func TestTextHits(t *testing.T) {
	_, hits := Text("mail alice@example.com and bob@example.org from /home/carol/x")
	if hits != 3 {
		t.Errorf("hits = %d, want 3", hits)
	}
	if _, hits := Text("nothing personal here"); hits != 0 {
		t.Errorf("hits = %d, want 0", hits)
	}
}

// TestTextConcurrent runs Text from many goroutines: under -race it checks
// that the shared gitleaks detectors are only read.
func TestTextConcurrent(t *testing.T) {
	inputs := []string{
		"echo ghp_R2d4e6g8i0k2m4o6q8s0u2w4y6A8C0E2G4I6 AKIAQYLPMN5HHHFPZAM2",
		"curl -u alice:pw -H 'Authorization: token abcdefgh12345678' https://example.com/",
		"api_key = 'Zx81Qw93Er7Ty6Ui5Op4As2D'",
		"/home/alice/x",
	}
	want := make([]string, len(inputs))
	for i, in := range inputs {
		want[i], _ = Text(in)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 50; k++ {
				for i, in := range inputs {
					if got, _ := Text(in); got != want[i] {
						t.Errorf("Text(%q) = %q concurrently, %q alone", in, got, want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// TestTextMatchesGitleaks checks that what Text leaves of texts full of
// secrets is clean for gitleaks' default detector used whole: the
// per-rule detectors and their preconditions lose nothing.
func TestTextMatchesGitleaks(t *testing.T) {
	d := referenceDetector(t)
	for _, in := range []string{
		"echo ghp_R2d4e6g8i0k2m4o6q8s0u2w4y6A8C0E2G4I6 xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
		`api_key = "Zx81Qw93Er7Ty6Ui5Op4As2D"`,
		"curl -u bob:hunter22 https://example.com",
		`curl -H "X-Api-Key: abcdefgh12345678" https://example.com`,
		"twilio SK0123456789abcdef0123456789abcdef",
		"vault s.Ab1dEf2hIj3lMn4pQr5tUv6x",
		"octopus API-Q7W2E9R4T1Y6U3I8O5P0A2S7D1",
		`db_password = "Zq81Kw93Xr7Ty6Ui5Op4"`,
		"token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
	} {
		if len(d.DetectString(in)) == 0 {
			t.Errorf("gitleaks finds nothing in %q: not a useful case", in)
		}
		out, _ := Text(in)
		for _, f := range d.DetectString(out) {
			t.Errorf("Text(%q) = %q: gitleaks still finds %s %q", in, out, f.RuleID, f.Secret)
		}
	}
}

// TestRulePreconditions checks that each precondition accepts what its rule
// finds, so that skipping a rule when it says no loses nothing.
func TestRulePreconditions(t *testing.T) {
	sc := secretScan()
	examples := map[string]string{
		"jwt":                    "x eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
		"vault-service-token":    "vault s.Ab1dEf2hIj3lMn4pQr5tUv6x",
		"twilio-api-key":         "twilio SK0123456789abcdef0123456789abcdef",
		"octopus-deploy-api-key": "octopus API-Q7W2E9R4T1Y6U3I8O5P0A2S7D1",
		"curl-auth-user":         "curl -u bob:hunter22 https://example.com",
		"curl-auth-header":       `curl -H "Authorization: Bearer abcdefgh12345678" https://example.com`,
		"generic-api-key":        `api_key = "Zx81Qw93Er7Ty6Ui5Op4As2D"`,
	}
	for id, check := range rulePossible {
		ex, ok := examples[id]
		if !ok {
			t.Errorf("%s: no example", id)
			continue
		}
		found := false
		for i, rid := range sc.ids {
			if rid != id {
				continue
			}
			found = true
			if len(sc.rules[i].DetectString(ex)) == 0 {
				t.Errorf("%s: the rule finds nothing in its example %q", id, ex)
			}
		}
		if !found {
			t.Errorf("%s: no such rule in gitleaks' default configuration", id)
		}
		if !check(ex) {
			t.Errorf("%s: precondition rejects %q", id, ex)
		}
	}
}

// TestCensus checks census against a plain count: the detectors it lets the
// pipeline skip must be those that cannot match.
func TestCensus(t *testing.T) {
	naive := func(s string) counts {
		var c counts
		alnum, digit := 0, 0
		for i := 0; i < len(s); i++ {
			switch b := s[i]; {
			case isDigit(b):
				c.digits++
			case b == '-':
				c.dashes++
			case b == ':':
				c.colons++
			case b == '.':
				c.dots++
			}
			alnum = (alnum + 1) * b2i(isAlnum(s[i]))
			digit = (digit + 1) * b2i(isDigit(s[i]))
			c.alnumRun = max(c.alnumRun, alnum)
			c.digitRun = max(c.digitRun, digit)
		}
		return c
	}
	inputs := append([]string{"a1b2c3", "123456789", "x-1234567890:abc.", "AAAA", "é1234"}, fuzzSeeds...)
	for _, e := range benchMix {
		inputs = append(inputs, e.v)
	}
	for _, s := range inputs {
		if got, want := census(s), naive(s); got != want {
			t.Errorf("census(%q) = %+v, want %+v", s, got, want)
		}
	}
}
