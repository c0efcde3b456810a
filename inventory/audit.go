package inventory

import (
	"slices"
	"strconv"
	"strings"
)

// Parameters of the anonymization audit (package privacyaudit, herdctl
// privacy audit): it measures the stored telemetry itself, so that a
// combination of fields rare enough to single out a device is seen, not
// assumed away. The docs render them from here.
const (
	// AuditK is the default smallest number of distinct devices an
	// equivalence class must hold.
	AuditK = 5
	// AuditMaxK bounds the k an operator may ask for.
	AuditMaxK = 1000
	// AuditSmallest is how many of the smallest classes an audit lists.
	AuditSmallest = 20
)

// AuditQuasiIdentifiers are the payload fields the audit takes as
// quasi-identifiers, by event type, besides the type, country and hour
// every stored event has: the fixed-choice and version fields that
// describe a device, its software or its setup. Hashes, paths, free text
// and keyed pseudonyms are not counted: the field rules handle them.
func AuditQuasiIdentifiers() map[string][]string {
	out := make(map[string][]string, len(auditQuasiIdentifiers))
	for t, fs := range auditQuasiIdentifiers {
		out[t] = slices.Clone(fs)
	}
	return out
}

var auditQuasiIdentifiers = map[string][]string{
	"license.info":    {"product_version", "sigdb_version"},
	"scan.finished":   {"trigger"},
	"feature.used":    {"feature"},
	"agent.error":     {"component", "code"},
	"device.info":     {"device_type", "os_family", "os_version"},
	"threat.detected": {"method", "action"},
	"app.installed":   {"source"},
	"process.start":   {"rule_id"},
	"sample.offered":  {"file_type"},
	"wifi.seen":       {"security"},
	"url.check":       {"verdict", "blocked"},
}

func auditMechanism() Mechanism {
	var qi []string
	for _, et := range types {
		if fs := auditQuasiIdentifiers[et.Name]; len(fs) > 0 {
			qi = append(qi, et.Name+": "+strings.Join(fs, ", "))
		}
	}
	return Mechanism{Name: "Anonymization audit",
		Description: "The privacy officer measures what is actually stored, not what the rules intend: `herdctl privacy audit` reads every stored event and groups the events into classes that share their quasi-identifiers, the fields that together could single out a device. A class sent by fewer than k distinct devices is counted as a risk (many events of one device do not make it anonymous); the report gives how many classes and events fall below k, lists the smallest classes by their quasi-identifiers only (never by device or any other field), and adds how often the cloud's second scrubbing pass caught something an agent should have removed, by event type, and the privacy budget spent (not reported yet: the cloud keeps no budget ledger). Every run is recorded in the audit log.",
		Parameters: []Parameter{
			{"k", strconv.Itoa(AuditK) + " devices by default; from 2 to " + strconv.Itoa(AuditMaxK)},
			{"quasi-identifiers of every event", "event type, country, hour; the network (ASN) too when asked (herdctl privacy audit --asn)"},
			{"quasi-identifiers by type", strings.Join(qi, "; ")},
			{"classes listed", "the " + strconv.Itoa(AuditSmallest) + " smallest below k, fewest devices first"},
			{"who may run it", "operators with the role privacy-officer or admin"},
		},
	}
}
