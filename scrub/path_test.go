package scrub

import "testing"

func TestPath(t *testing.T) {
	tests := []struct {
		in, want string
		hits     int
	}{
		{"/home/alice/x", "~/x", 1},
		{"/home/alice", "~", 1},
		{"/Users/alice/Library/Caches/com.example.app/payload.dylib", "~/Library/Caches/com.example.app/payload.dylib", 1},
		{"/root/.ssh/id_rsa", "~/.ssh/id_rsa", 1},
		{"/rootkit/x", "/rootkit/x", 0},
		{`C:\Users\alice\AppData\Local\Temp\setup.exe`, `%USERPROFILE%\AppData\Local\Temp\setup.exe`, 1},
		{`d:/users/Alice/Desktop/alice.docx`, `%USERPROFILE%/Desktop/<user>.docx`, 2},
		{`C:\USERS\bob\Downloads`, `%USERPROFILE%\Downloads`, 1},
		{`C:\Users\John Smith\Documents\John Smith CV.docx`, `%USERPROFILE%\Documents\<user> CV.docx`, 2},
		{`C:\Documents and Settings\alice\Desktop`, `%USERPROFILE%\Desktop`, 1},
		{`\Device\HarddiskVolume3\Users\bob\AppData\x.exe`, `%USERPROFILE%\AppData\x.exe`, 1},
		{`\\fileserver\c$\Users\carol\x`, `\\fileserver\c$\Users\<user>\x`, 1},
		{"/var/mail/alice", "/var/mail/<user>", 1},
		{"/var/spool/cron/crontabs/alice", "/var/spool/cron/crontabs/<user>", 1},
		{"/home/alice/.cache/alice-build/x", "~/.cache/<user>-build/x", 2},
		{"/home/alice/src/ALICE.txt", "~/src/<user>.txt", 2},
		{"/home/alice/src/malice.txt", "~/src/malice.txt", 1},
		{"/mnt/home/alice/x", "/mnt/home/<user>/x", 1},
		{"/home/al/al.txt", "~/al.txt", 1}, // a two-letter name is not looked for elsewhere
		{"/Users/Shared/x", "/Users/Shared/x", 0},
		{`C:\Users\Public\Desktop\x.lnk`, `C:\Users\Public\Desktop\x.lnk`, 0},
		{`C:\Users\Default\NTUSER.DAT`, `C:\Users\Default\NTUSER.DAT`, 0},
		{"/home/$USER/x", "/home/$USER/x", 0},
		{"/tmp/.X11-unix/.hidden/kworker", "/tmp/.X11-unix/.hidden/kworker", 0},
		{"/tmp/alice@example.com.txt", "/tmp/<email>", 1}, // ".txt" reads as a top-level domain
		{"/tmp/alice@example.com/x", "/tmp/<email>/x", 1},
		{"/srv/keys/ghp_R2d4e6g8i0k2m4o6q8s0u2w4y6A8C0E2G4I6.txt", "/srv/keys/<secret:github-pat>.txt", 1},
		{`C:\ProgramData\Microsoft\Crypto\RSA\S-1-5-21-3623811015-3361044348-30300820-1013\key`, `C:\ProgramData\Microsoft\Crypto\RSA\<sid>\key`, 1},
		{"/var/lib/app/3f2504e0-4f89-11d3-9a0c-0305e82c3301/db", "/var/lib/app/<uuid>/db", 1},
		{"", "", 0},
	}
	for _, tt := range tests {
		got, hits := Path(tt.in)
		if got != tt.want || hits != tt.hits {
			t.Errorf("Path(%q) = %q, %d; want %q, %d", tt.in, got, hits, tt.want, tt.hits)
			continue
		}
		if again, hits := Path(got); again != got || hits != 0 {
			t.Errorf("Path(%q) = %q, %d: not idempotent", got, again, hits)
		}
	}
}
