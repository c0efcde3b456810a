package inventory

import (
	"strconv"
	"time"
)

// Parameters of depersonalization. Package scrub implements the field rules
// with these values and the cloud's ingest applies the rest; the docs render
// them from here, so the published numbers are the ones in force.
const (
	// IPv4Prefix and IPv6Prefix are the networks an address inside an event
	// is truncated to.
	IPv4Prefix = 24
	IPv6Prefix = 48
	// TimeGranularity is the precision of times in stored telemetry.
	TimeGranularity = time.Hour
	// PseudonymRotation is how long a device pseudonym's key lives before
	// the next one replaces it (herdd's default pseudonym.rotation).
	PseudonymRotation = 7 * day
	// URLQueryValueMax is the longest value of a harmless query key that
	// is kept.
	URLQueryValueMax = 32
	// TokenMinLen is the shortest run of letters and digits that counts
	// as a token when it mixes them (session ids, API keys).
	TokenMinLen = 20
	// NumberMinDigits is the shortest run of digits replaced as an
	// account, customer or identity number.
	NumberMinDigits = 9
	// DedupWindow is how long the cloud remembers event ids to recognise
	// re-sends.
	DedupWindow = 2 * time.Hour
)

// URLQueryKeys are the query keys known to be harmless: every other key is
// removed with its value.
var URLQueryKeys = []string{"hl", "lang", "locale", "page", "format"}

// URLSchemes are the schemes a URL may have; a URL with any other is dropped.
var URLSchemes = []string{"http", "https", "ftp", "ws", "wss"}

// LocalHostSuffixes mark host names that only mean something inside one
// network (and so name an organisation or a household).
var LocalHostSuffixes = []string{".local", ".lan", ".internal", ".localdomain", ".home.arpa", ".corp"}

// Placeholder is the text that replaces a piece of a value that was removed.
type Placeholder struct {
	Text     string // what appears in the value instead
	Replaces string // what it stands for
}

// PathPlaceholders are applied by the path rule (and to paths inside free
// text).
var PathPlaceholders = []Placeholder{
	{"~", "the home folder: /home/NAME, /Users/NAME, /root"},
	{"/media/<user>, /run/media/<user>", "the user name in removable-media mounts (shared mounts such as /media/cdrom0 are kept)"},
	{`\\<host>\<share>`, `the server and share of a network path (\\server\share, \\?\UNC\…, smb://…, GNOME gvfs mounts); standard shares (C$, ADMIN$, IPC$, SYSVOL…) and local servers are kept, the folder after a home share becomes <user>`},
	{"%USERPROFILE%", `the Windows profile folder: C:\Users\NAME (any drive, either slash)`},
	{"<user>", "the user name taken from the home folder, wherever else it appears in the path (names of 3 characters or more)"},
	{"<email>, <secret:…>", "e-mail addresses and secrets in a folder or file name, as in free text"},
}

// Detector is one kind of personal or secret data that the text rule finds
// and replaces.
type Detector struct {
	Name        string
	Finds       string
	Placeholder string
}

// TextDetectors are applied by the text rule, in this order. The URL and path
// rules run the ones that apply to a single segment (e-mail, number, token,
// secret) on each path segment too.
var TextDetectors = []Detector{
	{"secret", "secrets: gitleaks' rule set (222 rules; the rule id is kept), the values of password, token, secret and key flags and key=value pairs, Authorization and Cookie headers, private key blocks, JWTs, credentials in connection strings", "<secret:RULE>"},
	{"url", "URLs: rewritten in place by the URL rule", "(the URL rule's output)"},
	{"path", "home folders and user names in paths: rewritten in place by the path rule", "(the path rule's output)"},
	{"email", "e-mail addresses", "<email>"},
	{"user", "user names in ssh and scp targets (user@host)", "<user>"},
	{"ip", "IPv4 and IPv6 addresses (loopback and unspecified addresses are kept)", "<ip>"},
	{"mac", "hardware (MAC) addresses", "<mac>"},
	{"card", "payment card numbers: 13 to 19 digits that pass the Luhn check", "<card>"},
	{"iban", "bank account numbers (IBAN) that pass the mod-97 check", "<iban>"},
	{"phone", "telephone numbers: international (+ or 00), North American (3-3-4) and national numbers starting with 0", "<phone>"},
	{"uuid", "UUIDs (device, installation and account ids)", "<uuid>"},
	{"sid", "Windows security identifiers (S-1-5-21-…)", "<sid>"},
	{"aws-key-id", "AWS access key ids by their shape alone (AKIA…, ASIA…), however low their entropy", "<secret:aws-access-token>"},
	{"number", "runs of 9 or more digits (account, customer and national ids; also times and sizes)", "<number>"},
	{"token", "values of 20 or more mixed letters and digits after =, : or a flag (session ids, keys); long hex hashes are kept", "<token>"},
}

// Derived is something the cloud itself records with each stored event,
// besides the event's declared fields.
type Derived struct {
	Name    string
	Purpose string
	How     string
}

// DerivedFields lists what the cloud derives and keeps per event.
func DerivedFields() []Derived { return append([]Derived(nil), derived...) }

var derived = []Derived{
	{"device", "Counts distinct devices (how many a threat reached) without knowing which device is which.",
		"A keyed pseudonym: HMAC-SHA-256 of the device's id under a key the cloud keeps apart from telemetry (its own key file, never in the telemetry store), replaced every " + days(PseudonymRotation) + ". The telemetry store never sees the device id, the licence or the key."},
	{"hour", "Orders events and counts them over time.",
		"The time the event happened, cut to the hour (UTC)."},
	{"country", "Shows where threats spread.",
		"The country (ISO 3166-1 code) of the address the request came from."},
	{"asn", "Shows which networks a threat spreads through.",
		"The number of the network (autonomous system) the request came from. The address itself is forgotten as soon as country and network are known: it is never stored or logged."},
	{"type", "Routes the event and applies its retention.",
		"The event type and its category."},
	{"event_id", "Stores an event that the agent sends twice only once.",
		"Never stored as sent: the cloud computes a keyed hash of the device and the random id the agent chose, and stores only a hash of those hashes for each group of events it writes together; a batch re-sent within " + hours(DedupWindow) + " is recognised by it and not stored again. Each cloud server also keeps the keyed hashes of the events it stored last in memory (never on disk), to recognise an event re-sent in another batch."},
}

// Mechanism is one depersonalization mechanism and its parameters.
type Mechanism struct {
	Name        string
	Rule        Rule // the field rule it implements, or "" for what the cloud does by itself
	Description string
	Parameters  []Parameter
}

// Parameter is one setting of a mechanism.
type Parameter struct {
	Name  string
	Value string
}

// Mechanisms lists every depersonalization mechanism with its parameters.
func Mechanisms() []Mechanism {
	return []Mechanism{
		{Name: "Types and limits", Rule: RuleNone,
			Description: "Numbers, booleans, fixed choices and versions are only checked: the right type, one of the declared values, inside the declared range, matching the declared pattern, no longer than the declared length. A string field without a rule always has a fixed list of values or a pattern, so no free-form text escapes the other rules.",
		},
		{Name: "File hashes", Rule: RuleHash,
			Description: "A file is described by its hashes, never its content. The only way a file's content leaves the device is the separate, opt-in upload of a suspicious file (category suspicious).",
			Parameters:  []Parameter{{"accepted", "SHA-256 (64 hex digits), SHA-1 (40), MD5 (32); lower-cased"}},
		},
		{Name: "URLs", Rule: RuleURL,
			Description: "An address keeps what tells a site apart (scheme, host, port, path) and loses what tells a person apart. A URL that does not parse is dropped.",
			Parameters: []Parameter{
				{"user name and password", "removed"},
				{"fragment (#…)", "removed"},
				{"query parameters removed by name", "sessions, tokens, keys, signatures, passwords, codes and states, e-mail addresses, user and account ids, search terms"},
				{"query parameters removed by value", "JWTs, e-mail addresses, runs of 6 or more digits, UUIDs, long high-entropy strings, and any parameter in which gitleaks' rules find a secret (read as key=value)"},
				{"tracking parameters", "removed (utm_*, fbclid, gclid, dclid, msclkid, mc_eid, igshid, yclid, _ga…); the other parameters are kept, in order"},
				{"path segments", "e-mail addresses, UUIDs and runs of 6 or more digits replaced by <email>, <uuid>, <number>"},
				{"for lookups", "verdict lookups use Google Safe Browsing's canonical form instead (unescaped, dots and case normalized, IP forms, IDN, no fragment, no port)"},
			},
		},
		{Name: "Paths", Rule: RulePath,
			Description: "A path keeps the folders that show where a file is (system folders, program folders, Downloads, Temp) and loses the names of the people and machines in it.",
			Parameters:  placeholderParams(PathPlaceholders),
		},
		{Name: "Free text and command lines", Rule: RuleText,
			Description: "Text written by a program or a person (error messages, command lines, names) goes through every detector; what a detector finds is replaced. A value a detector cannot process is dropped, never sent as it is.",
			Parameters:  detectorParams(TextDetectors),
		},
		{Name: "IP addresses", Rule: RuleIP,
			Description: "An address inside an event is cut to its network: enough to see which network an attack comes from, not which machine.",
			Parameters:  []Parameter{{"IPv4", "/" + strconv.Itoa(IPv4Prefix)}, {"IPv6", "/" + strconv.Itoa(IPv6Prefix)}},
		},
		{Name: "Keyed pseudonyms", Rule: RuleKeyed,
			Description: "Identifiers of hardware and licences are replaced on the device by a keyed one-way function of them; the raw value never leaves the device. Without the key, a pseudonym can neither be turned back into the identifier nor be tested against a guess.",
			Parameters: []Parameter{
				{"function", "HMAC-SHA-256, sent as 32 to 64 hex digits"},
				{"license_id, hw_fingerprint, bssid", "computed on the device; the cloud accepts only 32 to 64 hex digits in these fields and drops anything else"},
			},
		},
		{Name: "Device pseudonyms",
			Description: "Telemetry is stored under a pseudonym of the device, not its id, and the pseudonym changes regularly; only the identity service holds the key that links a pseudonym to a licence, and it answers only the questions its interface allows (deletion, export).",
			Parameters: []Parameter{
				{"function", "HMAC-SHA-256 (Tink PRF) under a key kept in its own file (mode 0600), apart from the telemetry store"},
				{"rotation", "every " + days(PseudonymRotation) + "; raw telemetry is kept at most " + days(MaxRetention)},
			},
		},
		{Name: "Time and place",
			Description: "Stored telemetry says roughly when and roughly where, never exactly.",
			Parameters: []Parameter{
				{"time", "cut to the hour (UTC)"},
				{"place", "country and network (ASN) of the request's address; the address is then forgotten"},
			},
		},
		{Name: "Published statistics",
			Description: "No statistic of the fleet is published yet: operators see only totals of what is stored (herdctl telemetry stats). Published threat statistics are to be computed from aggregates with differential privacy: noise calibrated to a privacy budget ε that is accounted and shown, and counts too small to hide one device suppressed.",
		},
		auditMechanism(),
	}
}

func placeholderParams(ps []Placeholder) []Parameter {
	out := make([]Parameter, len(ps))
	for i, p := range ps {
		out[i] = Parameter{p.Text, p.Replaces}
	}
	return out
}

func detectorParams(ds []Detector) []Parameter {
	out := make([]Parameter, len(ds))
	for i, d := range ds {
		out[i] = Parameter{d.Name, d.Finds + " → " + d.Placeholder}
	}
	return out
}

func days(d time.Duration) string {
	n := int(d / day)
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}

func hours(d time.Duration) string {
	n := int(d / time.Hour)
	if n == 1 {
		return "1 hour"
	}
	return strconv.Itoa(n) + " hours"
}
