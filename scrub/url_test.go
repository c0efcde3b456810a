package scrub

import "testing"

func TestURL(t *testing.T) {
	tests := []struct {
		name, in, want string
		hits           int
	}{
		{"basic auth", "https://alice:hunter2@example.com/admin", "https://example.com/admin", 1},
		{"user only", "ftp://anonymous@ftp.example.org/pub/", "ftp://ftp.example.org/pub/", 1},
		{"scheme and host lower-cased", "HTTPS://WWW.Example.COM:8443/Path", "https://www.example.com:8443/Path", 0},
		{"idn host", "https://münchen.de/karte", "https://xn--mnchen-3ya.de/karte", 0},
		{"ipv6 host", "http://[2001:DB8::1]:8080/status", "http://[2001:db8::1]:8080/status", 0},
		{"fragment", "https://example.com/page#section-2", "https://example.com/page", 1},
		{"port with leading zeros", "http://example.com:08080/a", "http://example.com:8080/a", 0},
		{"secret in a path segment", "https://ci.example.com/hooks/credential,01278A9BCXYZ", "https://ci.example.com/hooks/credential,<secret:generic-api-key>", 1},
		{"secret in a query value", "https://ci.example.com/run?job=7&q=credential,01278A9BCXYZ", "https://ci.example.com/run?job=7", 1},
		{"oauth implicit fragment", "https://app.example.com/cb#access_token=ya29.a0AfH6SM&token_type=Bearer", "https://app.example.com/cb", 1},
		{"tracking", "https://www.example.com/products/shoes?color=red&utm_source=newsletter&size=42&utm_medium=email&fbclid=IwAR2xyz&gclid=Cj0KCQ", "https://www.example.com/products/shoes?color=red&size=42", 4},
		{"presigned S3",
			"https://bucket.s3.amazonaws.com/report.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAQYLPMN5HHHFPZAM2%2F20240115%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240115T120000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
			"https://bucket.s3.amazonaws.com/report.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-SignedHeaders=host", 3},
		{"oauth code and state", "https://app.example.com/callback?code=4/0AfJohXn8&state=xyz123&scope=email%20profile", "https://app.example.com/callback?scope=email%20profile", 2},
		{"oauth authorize with nested redirect",
			"https://login.example.com/authorize?client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%3Fsession%3Dabc%26lang%3Den&response_type=code",
			"https://login.example.com/authorize?client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%3Flang%3Den&response_type=code", 1},
		{"sensitive names", "https://example.com/a?sessionid=x1&api_key=k&Password=p&user_email=e&UserId=7&lang=en&accessToken=t&sig=s&jwt=j", "https://example.com/a?lang=en", 8},
		{"azure sas", "https://acct.blob.core.windows.net/c/f.txt?sv=2022-11-02&se=2024-01-01T00%3A00%3A00Z&sr=b&sp=r&sig=abc%2Bdef%3D", "https://acct.blob.core.windows.net/c/f.txt?sv=2022-11-02&se=2024-01-01T00%3A00%3A00Z&sr=b&sp=r", 1},
		{"value shapes",
			"https://example.com/s?ref=alice%40example.com&id=3f2504e0-4f89-11d3-9a0c-0305e82c3301&n=12345678&t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl&k=8f7a6c5b4d3e2f1a0b9c&ok=yes&ip=203.0.113.9",
			"https://example.com/s?ok=yes", 6},
		{"search terms", "https://www.google.com/search?q=hiv+test+near+me&hl=en", "https://www.google.com/search?hl=en", 1},
		{"path identifiers",
			"https://example.com/users/alice@example.com/orders/12345678/3f2504e0-4f89-11d3-9a0c-0305e82c3301/invoice.pdf",
			"https://example.com/users/<email>/orders/<number>/<uuid>/invoice.pdf", 3},
		{"path token", "https://docs.google.com/document/d/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/edit", "https://docs.google.com/document/d/<token>/edit", 1},
		{"path slug kept", "https://en.wikipedia.org/wiki/United_States_Declaration_of_Independence", "https://en.wikipedia.org/wiki/United_States_Declaration_of_Independence", 0},
		{"path phone", "https://example.com/call/555-123-4567", "https://example.com/call/<phone>", 1},
		{"encoding kept", "https://example.com/a%20b/c?x=1%202&y", "https://example.com/a%20b/c?x=1%202&y", 0},
		{"empty query dropped", "https://example.com/q?", "https://example.com/q", 0},
	}
	for _, tt := range tests {
		got, hits, ok := URL(tt.in)
		if !ok || got != tt.want || hits != tt.hits {
			t.Errorf("%s: URL(%q)\n = %q, %d, %v\nwant %q, %d", tt.name, tt.in, got, hits, ok, tt.want, tt.hits)
			continue
		}
		if again, hits, ok := URL(got); !ok || again != got || hits != 0 {
			t.Errorf("%s: URL(%q) = %q, %d, %v: not idempotent", tt.name, got, again, hits, ok)
		}
	}
}

func TestURLDropped(t *testing.T) {
	for _, in := range []string{
		"", "example.com/path", "/relative", "mailto:alice@example.com", "javascript:alert(1)",
		"file:///home/alice/x", "http://", "http:///path", "http://exa mple.com/", "https://example.com/a b",
		"https://example.com/%zz", "http://[fe80::1%25eth0]/", "http://under_score..com/",
		"http://0:0000000000000", "http://example.com:65536/", // no port: a number that may identify someone
		"https://u1234567.ct.sendgrid.net/ls/click", "http://example.com/\x00", string([]byte{0xff, 0xfe}),
	} {
		if got, hits, ok := URL(in); ok || got != "" || hits != 0 {
			t.Errorf("URL(%q) = %q, %d, %v; want dropped", in, got, hits, ok)
		}
	}
}

func TestIP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.33", "192.0.2.0"},
		{"192.0.2.0", "192.0.2.0"},
		{"10.1.2.3", "10.1.2.0"},
		{"2001:db8:1:2::5", "2001:db8:1::"},
		{"2001:0db8:0001:0002:0003:0004:0005:0006", "2001:db8:1::"},
		{"2001:DB8::1", "2001:db8::"},
		{"::ffff:192.0.2.33", "192.0.2.0"},
		{"2002:c000:0221::1", "2002:c000:200::"}, // 6to4: the embedded 192.0.2.33 keeps only its /24
		{"fe80::1%eth0", "fe80::"},
		{"::1", "::"},
	}
	for _, tt := range tests {
		if got, ok := IP(tt.in); !ok || got != tt.want {
			t.Errorf("IP(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
	for _, in := range []string{"", "x", "192.0.2", "192.0.2.256", "010.1.1.1", "1.2.3.4/24", "[::1]", "192.0.2.1:80"} {
		if got, ok := IP(in); ok {
			t.Errorf("IP(%q) = %q; want dropped", in, got)
		}
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		rule     Rule
		in, want string
		hits     int
		ok       bool
	}{
		{RuleNone, "anything", "anything", 0, true},
		{RuleHash, "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", 0, true},
		{RuleHash, "44d88612fea8a8f36de82e1278abb02f", "44d88612fea8a8f36de82e1278abb02f", 0, true},
		{RuleHash, "3395856ce81f2b7382dee72602f798b642f14140", "3395856ce81f2b7382dee72602f798b642f14140", 0, true},
		{RuleHash, "44d88612fea8a8f36de82e1278abb02", "", 0, false},
		{RuleHash, "alice@example.com-padding-to-32-b", "", 0, false},
		{RuleIP, "192.0.2.33", "192.0.2.0", 1, true},
		{RuleIP, "192.0.2.0", "192.0.2.0", 0, true},
		{RuleIP, "not an ip", "", 0, false},
		{RuleURL, "https://a:b@example.com/", "https://example.com/", 1, true},
		{RuleURL, "not a url", "", 0, false},
		{RulePath, "/home/alice/x", "~/x", 1, true},
		{RuleText, "mail alice@example.com", "mail <email>", 1, true},
		{Rule("bogus"), "x", "", 0, false},
	}
	for _, tt := range tests {
		out, hits, ok := Apply(tt.rule, tt.in)
		if out != tt.want || hits != tt.hits || ok != tt.ok {
			t.Errorf("Apply(%s, %q) = %q, %d, %v; want %q, %d, %v", tt.rule, tt.in, out, hits, ok, tt.want, tt.hits, tt.ok)
		}
	}
	if r, err := ParseRule("text"); err != nil || r != RuleText {
		t.Errorf("ParseRule(text) = %q, %v", r, err)
	}
	if _, err := ParseRule("bogus"); err == nil {
		t.Errorf("ParseRule(bogus): no error")
	}
}
