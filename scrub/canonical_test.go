package scrub

import (
	"testing"

	"github.com/herdsec/herd"
)

// The test vectors published with Google Safe Browsing's URL
// canonicalization (developers.google.com/safe-browsing/v4/urls-hashing),
// and those of Google's Go client (github.com/google/safebrowsing) where the
// published rules decide them.
func TestCanonicalizeSafeBrowsingVectors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://host/%25%32%35", "http://host/%25"},
		{"http://host/%25%32%35%25%32%35", "http://host/%25%25"},
		{"http://host/%2525252525252525", "http://host/%25"},
		{"http://host/asdf%25%32%35asd", "http://host/asdf%25asd"},
		{"http://host/%%%25%32%35asd%%", "http://host/%25%25%25asd%25%25"},
		{"http://www.google.com/", "http://www.google.com/"},
		{"http://%31%36%38%2e%31%38%38%2e%39%39%2e%32%36/%2E%73%65%63%75%72%65/%77%77%77%2E%65%62%61%79%2E%63%6F%6D/", "http://168.188.99.26/.secure/www.ebay.com/"},
		{"http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/", "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/"},
		{"http://host%23.com/%257Ea%2521b%2540c%2523d%2524e%25f%255E00%252611%252A22%252833%252944_55%252B", "http://host%23.com/~a!b@c%23d$e%25f^00&11*22(33)44_55+"},
		{"http://3279880203/blah", "http://195.127.0.11/blah"},
		{"http://www.google.com/blah/..", "http://www.google.com/"},
		{"www.google.com/", "http://www.google.com/"},
		{"www.google.com", "http://www.google.com/"},
		{"http://www.evil.com/blah#frag", "http://www.evil.com/blah"},
		{"http://www.GOOgle.com/", "http://www.google.com/"},
		{"http://www.google.com.../", "http://www.google.com/"},
		{"http://www.google.com/foo\tbar\rbaz\n2", "http://www.google.com/foobarbaz2"},
		{"http://www.google.com/q?", "http://www.google.com/q?"},
		{"http://www.google.com/q?r?", "http://www.google.com/q?r?"},
		{"http://www.google.com/q?r?s", "http://www.google.com/q?r?s"},
		{"http://evil.com/foo#bar#baz", "http://evil.com/foo"},
		{"http://evil.com/foo;", "http://evil.com/foo;"},
		{"http://evil.com/foo?bar;", "http://evil.com/foo?bar;"},
		{"http://\x01\x80.com/", "http://%01%80.com/"},
		{"http://notrailingslash.com", "http://notrailingslash.com/"},
		{"http://www.gotaport.com:1234/", "http://www.gotaport.com/"},
		{"  http://www.google.com/  ", "http://www.google.com/"},
		{"http:// leadingspace.com/", "http://%20leadingspace.com/"},
		{"http://%20leadingspace.com/", "http://%20leadingspace.com/"},
		{"%20leadingspace.com/", "http://%20leadingspace.com/"},
		{"https://www.securesite.com/", "https://www.securesite.com/"},
		{"http://host.com/ab%23cd", "http://host.com/ab%23cd"},
		{"http://host.com//twoslashes?more//slashes", "http://host.com/twoslashes?more//slashes"},
		// Google's Go client and Mozilla's tests.
		{"ftp://ftp.myfiles.com/", "ftp://ftp.myfiles.com/"},
		{"http://some%1bhost.com/%1b", "http://some%1Bhost.com/%1B"},
		{"http://www.\xC3\xBCmlat.com/", "http://www.xn--mlat-zra.com/"},
		{"http://[2001:470:1:18::114]/", "http://[2001:470:1:18::114]/"},
		{"http%3A%2F%2Fwackyurl.com:80/", "http://wackyurl.com/"},
		{"http://W!eird<>Ho$^.com/", "http://w!eird<>ho$^.com/"},
		{"http://i.have.way.too.many.dots.com/", "http://i.have.way.too.many.dots.com/"},
		{"http://a.com/foo/.././bar/./../foo.html", "http://a.com/foo.html"},
		{"http://a.com//a//b///c////", "http://a.com/a/b/c/"},
		{"http://0x12.0x43.0x44.0x01/", "http://18.67.68.1/"},
		{"http://google.com.:8080/foo.html", "http://google.com/foo.html"},
		{"http://..google.com/foo.html", "http://google.com/foo.html"},
		{"http://user:pass@www.google.com/", "http://www.google.com/"},
		{"http://host.com/path?query%3Awith%3Acolons", "http://host.com/path?query:with:colons"},
		{"https://wiki.mozilla.org/index.php?title=MozillaWiki%3AHelp&action=history", "https://wiki.mozilla.org/index.php?title=MozillaWiki:Help&action=history"},
	}
	for _, tt := range tests {
		got, err := Canonicalize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Canonicalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			continue
		}
		if again, err := Canonicalize(got); err != nil || again != got {
			t.Errorf("Canonicalize(%q) = %q, %v; not idempotent", got, again, err)
		}
	}
}

func TestCanonicalizeIPv4Forms(t *testing.T) {
	// From Google's Go client: decimal, octal, hex and short forms.
	tests := []struct{ host, want string }{
		{"255.0.0.1", "255.0.0.1"},
		{"12.0x12.01234", "12.18.2.156"},
		{"276.2.3", "20.2.0.3"},
		{"012.034.01.055", "10.28.1.45"},
		{"0x12.0x43.0x44.0x01", "18.67.68.1"},
		{"167838211", "10.1.2.3"},
		{"3279880203", "195.127.0.11"},
		{"4294967295", "255.255.255.255"},
		{"10.192.95.89 xy", "10.192.95.89"},
		{"123.123.0.0.1", "123.123.0.0.1"}, // five parts: a name, not an address
		{"1.2.3.00x0", "1.2.3.00x0"},
	}
	for _, tt := range tests {
		got, err := Canonicalize("http://" + tt.host + "/")
		if want := "http://" + tt.want + "/"; err != nil || got != want {
			t.Errorf("Canonicalize(http://%s/) = %q, %v; want %q", tt.host, got, err, want)
		}
	}
}

func TestCanonicalizeInvalid(t *testing.T) {
	for _, in := range []string{
		"", ":", "/blah", "#ref", "/blah#ref", "?query#ref", "/blah?query#ref", "/blah;param",
		"http://#ref", "http:///blah#ref", "http://?query#ref", "http:///blah?query#ref",
		"http:///blah;param", "http:///blah;param?query#ref", "mailto:bryner@google.com",
		"http://host:port/", "http://[::1/", "http://2001:db8::1/",
	} {
		if got, err := Canonicalize(in); err == nil {
			t.Errorf("Canonicalize(%q) = %q; want an error", in, got)
		} else if herd.ErrorCode(err) != herd.EINVALID {
			t.Errorf("Canonicalize(%q): error %v is not EINVALID", in, err)
		}
	}
}
