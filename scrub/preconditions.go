package scrub

import "strings"

// rulePossible holds, for the gitleaks rules whose keywords are common in
// command lines ("ey" is in "key", "s." ends half the file names, "sk" is in
// "disk", "secret" is in our own placeholders), a cheap check of what the
// rule's regular expression requires. Each check only returns false when the
// expression cannot match, so skipping the rule loses nothing. The
// expressions are those of gitleaks v8.30.1's default configuration;
// TestRulePreconditions checks each against positive examples.
var rulePossible = map[string]func(string) bool{
	// \b(ey[a-zA-Z0-9]{17,}\.ey[a-zA-Z0-9\/\\_-]{17,}\.…
	"jwt": func(s string) bool { return prefixRun(s, "ey", 17, isAlnum, ".ey") },
	// \b((?:hvs\.[\w-]{90,120}|s\.(?i:[a-z0-9]{24})))
	"vault-service-token": func(s string) bool {
		return prefixRun(s, "s.", 24, func(c byte) bool { return isWordChar(c) || c == '-' }, "")
	},
	// SK[0-9a-fA-F]{32}
	"twilio-api-key": func(s string) bool { return prefixRun(s, "SK", 32, isHexByte, "") },
	// \b(API-[A-Z0-9]{26})
	"octopus-deploy-api-key": func(s string) bool {
		return prefixRun(s, "API-", 26, func(c byte) bool { return isUpper(c) || isDigit(c) }, "")
	},
	// \bcurl\b…[ \t\n\r](?:-u|--user)…
	"curl-auth-user": func(s string) bool { return curlFlag(s, "-u") || curlFlag(s, "--user") },
	// \bcurl\b…[ \t\n\r](?:-H|--header)(?:=|[ \t]{0,5})["'](?i)(?:Authorization:…|…(?:Key|Token):…)
	"curl-auth-header": curlAuthHeaderPossible,
	"generic-api-key":  genericPossible,
}

// prefixRun reports whether s holds prefix followed by at least n bytes of
// class in, then suffix (if any).
func prefixRun(s, prefix string, n int, in func(byte) bool, suffix string) bool {
	for from := 0; ; {
		i := strings.Index(s[from:], prefix)
		if i < 0 {
			return false
		}
		j := from + i + len(prefix)
		k := j
		for k < len(s) && in(s[k]) {
			k++
		}
		if k-j >= n && (suffix == "" || strings.HasPrefix(s[k:], suffix)) {
			return true
		}
		from += i + 1
	}
}

// curlFlag reports whether s holds flag after a space, tab, CR or LF.
func curlFlag(s, flag string) bool {
	for from := 0; ; {
		i := strings.Index(s[from:], flag)
		if i < 0 {
			return false
		}
		i += from
		if i > 0 && (s[i-1] == ' ' || s[i-1] == '\t' || s[i-1] == '\n' || s[i-1] == '\r') {
			return true
		}
		from = i + 1
	}
}

// curlAuthHeaderPossible checks what curl-auth-header requires: -H or
// --header, an optional '=' or up to five blanks, a quote, then
// "Authorization:" or "[X-[word-]][Api[-]]Key|Token:", up to five blanks, an
// optional scheme word, and eight or more value characters.
func curlAuthHeaderPossible(s string) bool {
	for _, flag := range []string{"-H", "--header"} {
		for from := 0; ; {
			i := strings.Index(s[from:], flag)
			if i < 0 {
				break
			}
			i += from
			from = i + 1
			if i == 0 || !(s[i-1] == ' ' || s[i-1] == '\t' || s[i-1] == '\n' || s[i-1] == '\r') {
				continue
			}
			j := i + len(flag)
			if j < len(s) && s[j] == '=' {
				j++
			} else {
				for t := 0; t < 5 && j < len(s) && (s[j] == ' ' || s[j] == '\t'); t++ {
					j++
				}
			}
			if j >= len(s) || s[j] != '"' && s[j] != '\'' {
				continue
			}
			if headerValuePossible(s[j+1:]) {
				return true
			}
		}
	}
	return false
}

// headerValuePossible checks the quoted header of curl-auth-header. The
// header name is checked loosely: any name up to its ':' that ends in
// "authorization", "key" or "token".
func headerValuePossible(h string) bool {
	c := strings.IndexByte(h, ':')
	if c < 0 || c > 64 {
		return false
	}
	name := h[:c]
	if !(hasSuffixFold(name, "authorization") || hasSuffixFold(name, "key") || hasSuffixFold(name, "token")) {
		return false
	}
	v := c + 1
	for t := 0; t < 5 && v < len(h) && (h[v] == ' ' || h[v] == '\t'); t++ {
		v++
	}
	valueChar := func(c byte) bool { return isWordChar(c) || strings.IndexByte("=~@.+/-", c) >= 0 }
	count := func(i int) int {
		k := i
		for k < len(h) && valueChar(h[k]) {
			k++
		}
		return k - i
	}
	if count(v) >= 8 {
		return true
	}
	// A scheme word (Basic, Bearer, Token, Api-Token) and one blank.
	w := v
	for w < len(h) && isAlpha(h[w]) || w < len(h) && h[w] == '-' {
		w++
	}
	return w < len(h) && (h[w] == ' ' || h[w] == '\t') && count(w+1) >= 8
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}
