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
		{`\\fileserver\c$\Users\carol\x`, `\\<host>\c$\Users\<user>\x`, 2},
		// Network paths: the server and the share name the organisation.
		{`\\fs01.corp.example.com\Finance\Q3 Budget.xlsx`, `\\<host>\<share>\Q3 Budget.xlsx`, 2},
		{`\\nas\home$\alice\Documents\alice-cv.docx`, `\\<host>\home$\<user>\Documents\<user>-cv.docx`, 3},
		{`\\?\UNC\fs01\finance\x.docx`, `\\?\UNC\<host>\<share>\x.docx`, 2},
		{`\Device\Mup\fs01\finance\x.docx`, `\Device\Mup\<host>\<share>\x.docx`, 2},
		{`\Device\Mup\;LanmanRedirector\;Z:00000000000a1b2c\fs01\finance\x`, `\Device\Mup\;LanmanRedirector\;Z:00000000000a1b2c\<host>\<share>\x`, 2},
		{`\\192.168.1.20\Scans\scan001.pdf`, `\\<ip>\<share>\scan001.pdf`, 2},
		{`\\wsl$\Ubuntu\home\alice\.bashrc`, `\\wsl$\Ubuntu\home\<user>\.bashrc`, 1},
		{`\\tsclient\C\x.txt`, `\\tsclient\C\x.txt`, 0},
		{`\\.\pipe\crashpad_1234_ABCD`, `\\.\pipe\crashpad_1234_ABCD`, 0},
		{`\\?\C:\Windows\Temp\x.tmp`, `\\?\C:\Windows\Temp\x.tmp`, 0},
		{"/run/user/1000/gvfs/smb-share:server=nas.local,share=alice/x.pdf", "/run/user/1000/gvfs/smb-share:server=<host>,share=<share>/x.pdf", 2},
		// Per-user mounts of removable media.
		{"/media/alice/KINGSTON/alice-notes.txt", "/media/<user>/KINGSTON/<user>-notes.txt", 2},
		{"/run/media/bob/3C2A-1F0E/DCIM/IMG_0001.JPG", "/run/media/<user>/3C2A-1F0E/DCIM/IMG_0001.JPG", 1},
		{"/media/cdrom0/install.sh", "/media/cdrom0/install.sh", 0},
		{"/var/www/app/media/uploads/logo.png", "/var/www/app/media/uploads/logo.png", 0},
		{"/Volumes/Backup/x", "/Volumes/Backup/x", 0},
		{"/var/lib/app/customers/100234567/profile.json", "/var/lib/app/customers/<number>/profile.json", 1},
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
