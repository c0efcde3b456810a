package clamav

import (
	"errors"
	"fmt"
	"strings"
)

// errSizeLimit is clamd's answer to a stream over its StreamMaxLength.
var errSizeLimit = errors.New("INSTREAM size limit exceeded")

// parseReply reads clamd's answer to INSTREAM:
//
//	stream: OK                               nothing found
//	stream: Win.Test.EICAR_HDB-1 FOUND       a signature matched
//	stream: Win.Test.EICAR_HDB-1(44d8…:68) FOUND   the same with ExtendedDetectionInfo
//	stream: Can't allocate memory ERROR      the scan failed
//	INSTREAM size limit exceeded. ERROR      over clamd's StreamMaxLength
//
// It returns the signature's name (without the extended details) or "",
// and an error for an ERROR reply or anything else.
func parseReply(reply string) (threat string, err error) {
	reply = strings.TrimRight(reply, "\n")
	if strings.HasPrefix(reply, "INSTREAM size limit exceeded") {
		return "", errSizeLimit
	}
	rest, ok := strings.CutPrefix(reply, "stream: ")
	if !ok {
		return "", fmt.Errorf("unexpected reply %q", clip(reply))
	}
	switch {
	case rest == "OK":
		return "", nil
	case strings.HasSuffix(rest, " FOUND"):
		name := stripDetails(strings.TrimSuffix(rest, " FOUND"))
		if name == "" || !printable(name) {
			return "", fmt.Errorf("unexpected signature name in reply %q", clip(reply))
		}
		return name, nil
	case strings.HasSuffix(rest, " ERROR"):
		msg := strings.TrimSuffix(rest, " ERROR")
		return "", fmt.Errorf("clamd error: %s", clip(msg))
	}
	return "", fmt.Errorf("unexpected reply %q", clip(reply))
}

// stripDetails removes the "(md5:size)" or "(sha256:size)" that clamd adds
// to a name with ExtendedDetectionInfo, so that the name is the same with
// or without it.
func stripDetails(name string) string {
	i := strings.LastIndexByte(name, '(')
	if i <= 0 || !strings.HasSuffix(name, ")") {
		return name
	}
	hash, size, ok := strings.Cut(name[i+1:len(name)-1], ":")
	if !ok || !isHex(hash) || len(hash) < 32 || !isDigits(size) {
		return name
	}
	return name[:i]
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return s != ""
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// printable reports whether s is printable ASCII with no space at either
// end (signature names look like Win.Trojan.Agent-12345).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return strings.TrimSpace(s) == s
}

// clip keeps messages from a misbehaving peer short in errors.
func clip(s string) string {
	const limit = 200
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}
