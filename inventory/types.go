package inventory

import "github.com/herdsec/herd"

// CategoryInfo describes one consent category for people.
type CategoryInfo struct {
	Category herd.Category
	Title    string
	Purpose  string
}

// Categories describes every category, in the order of herd.Categories.
func Categories() []CategoryInfo { return append([]CategoryInfo(nil), categories...) }

var categories = []CategoryInfo{
	{herd.CategoryLicense, "Licence and product", "Keeps the product and its signature database up to date and tells real installations from copies."},
	{herd.CategoryOperation, "Product operation", "Shows the developers how well the product works: how long scans take, which features people use, what fails. Only published as differentially private totals."},
	{herd.CategoryDevice, "Device", "Lets a licence stay with its machine across a reinstall, and lets the network count how many devices a threat reached."},
	{herd.CategoryThreats, "Threats detected", "Turns what one device finds into verdicts that protect every other device, and into threat statistics."},
	{herd.CategoryApps, "Installed applications", "Builds the list of known-good software, so that fewer harmless programs are flagged, and the application categories parental control uses."},
	{herd.CategoryOSEvents, "Operating-system events", "Lets behaviour rules catch new malware by what it does, before any signature for it exists."},
	{herd.CategorySuspicious, "Suspicious files", "Lets analysts and sandboxes examine an unknown program that behaved suspiciously. The file itself is uploaded only with this category on, capped in size, encrypted, and kept in the device's region."},
	{herd.CategoryWiFi, "Wi-Fi", "Warns people before they use a Wi-Fi access point that is badly protected or known to be hostile."},
	{herd.CategoryWeb, "Web", "Blocks phishing and malicious sites, and lets a site that hurt one person be blocked for everyone."},
	{herd.CategoryContact, "Contact", "Lets the person sign in to the portal and receive alerts about their devices. Kept in the identity store only."},
}

// Value patterns shared by several fields.
const (
	versionPattern = `^[0-9A-Za-z][0-9A-Za-z.+:~_-]*$`
	keyedPattern   = `^[0-9a-fA-F]{32,64}$`
	sha256Pattern  = `^[0-9a-fA-F]{64}$`
	sha1Pattern    = `^[0-9a-fA-F]{40}$`
	md5Pattern     = `^[0-9a-fA-F]{32}$`
	tokenPattern   = `^[a-z][a-z0-9_.-]*$`
	ruleIDPattern  = `^[A-Za-z0-9][A-Za-z0-9_.:-]*$`
)

// MaxPathLen bounds paths and command lines; agents cut longer ones before
// cleaning.
const MaxPathLen = 4096

func sha256Field(name, purpose string, required bool) Field {
	return Field{Name: name, Kind: KindString, Rule: RuleHash, Purpose: purpose, MaxLen: 64, Pattern: sha256Pattern, Required: required}
}

// types is the inventory. Order: by category as in herd.Categories.
var types = []EventType{
	// license
	{
		Name: "license.info", Category: herd.CategoryLicense, Retention: 30 * day, Destination: DestinationTelemetry,
		Purpose: "Sent when the agent starts and once a day, so that the cloud offers the right updates and recognises a genuine installation.",
		Fields: []Field{
			{Name: "product_version", Kind: KindString, Rule: RuleNone, MaxLen: 64, Pattern: versionPattern, Required: true,
				Purpose: "Which version of the agent runs, to offer the right updates and to know which versions are still in use."},
			{Name: "sigdb_version", Kind: KindString, Rule: RuleNone, MaxLen: 64, Pattern: versionPattern,
				Purpose: "Which signature database the agent has, to send only what it is missing."},
			{Name: "license_id", Kind: KindString, Rule: RuleKeyed, MaxLen: 64, Pattern: keyedPattern,
				Purpose: "A keyed pseudonym of the licence, computed on the device: only the identity service can check it against the licences it issued."},
		},
	},
	// operation
	{
		Name: "scan.finished", Category: herd.CategoryOperation, Retention: 14 * day, Destination: DestinationTelemetry,
		Purpose: "Sent at the end of each scan, to learn how fast and how reliable scanning is across many devices.",
		Fields: []Field{
			{Name: "duration_ms", Kind: KindInteger, Rule: RuleNone, Min: 0, Max: 7 * 24 * 3600 * 1000, Purpose: "How long the scan took, in milliseconds."},
			{Name: "files", Kind: KindInteger, Rule: RuleNone, Min: 0, Max: 10_000_000_000, Purpose: "How many files were scanned."},
			{Name: "bytes", Kind: KindInteger, Rule: RuleNone, Min: 0, Max: 1 << 53, Purpose: "How many bytes were read."},
			{Name: "detections", Kind: KindInteger, Rule: RuleNone, Min: 0, Max: 10_000_000, Purpose: "How many threats the scan found (the threats themselves are separate events)."},
			{Name: "errors", Kind: KindInteger, Rule: RuleNone, Min: 0, Max: 10_000_000_000, Purpose: "How many files could not be read."},
			{Name: "trigger", Kind: KindString, Rule: RuleNone, MaxLen: 16, Enum: []string{"manual", "scheduled", "realtime"}, Purpose: "What started the scan."},
		},
	},
	{
		Name: "feature.used", Category: herd.CategoryOperation, Retention: 14 * day, Destination: DestinationTelemetry,
		Purpose: "Sent at most once a day per feature, to learn which features people rely on and which nobody uses.",
		Fields: []Field{
			{Name: "feature", Kind: KindString, Rule: RuleNone, MaxLen: 32, Enum: []string{"scan", "realtime", "quarantine", "cloud-lookup", "private-lookup", "rules"}, Required: true, Purpose: "Which feature."},
			{Name: "used", Kind: KindBoolean, Rule: RuleNone, Purpose: "Whether it was used that day."},
		},
	},
	{
		Name: "agent.error", Category: herd.CategoryOperation, Retention: 14 * day, Destination: DestinationTelemetry,
		Purpose: "Sent when part of the agent fails, so that developers find and fix the fault.",
		Fields: []Field{
			{Name: "component", Kind: KindString, Rule: RuleNone, MaxLen: 16, Enum: []string{"scan", "outbox", "cloud", "rules", "watch"}, Required: true, Purpose: "Which part of the agent failed."},
			{Name: "code", Kind: KindString, Rule: RuleNone, MaxLen: 48, Pattern: tokenPattern, Required: true, Purpose: "A short fixed code for the kind of failure, such as \"cloud.timeout\"."},
			{Name: "message", Kind: KindString, Rule: RuleText, FreeText: true, MaxLen: 512, Purpose: "The error message, with names, addresses, paths and secrets removed, to tell apart failures that share a code."},
		},
	},
	// device
	{
		Name: "device.info", Category: herd.CategoryDevice, Retention: 30 * day, Destination: DestinationTelemetry,
		Purpose: "Sent when the agent starts and once a day, to keep a licence bound to its machine and to count how many devices of each kind a threat reaches.",
		Fields: []Field{
			{Name: "device_type", Kind: KindString, Rule: RuleNone, MaxLen: 16, Enum: []string{"desktop", "laptop", "server", "virtual-machine", "container", "phone", "other"}, Purpose: "What kind of device the agent protects."},
			{Name: "os_family", Kind: KindString, Rule: RuleNone, MaxLen: 16, Enum: []string{"linux", "windows", "macos", "android", "ios", "bsd", "other"}, Required: true, Purpose: "Which operating system family, to send the right rules and count threats per platform."},
			{Name: "os_version", Kind: KindString, Rule: RuleNone, MaxLen: 64, Pattern: `^[0-9A-Za-z][0-9A-Za-z .+:~_()-]*$`, Purpose: "Which operating system version, to know which unpatched systems a threat can reach."},
			{Name: "hw_fingerprint", Kind: KindString, Rule: RuleKeyed, MaxLen: 64, Pattern: keyedPattern, Purpose: "A keyed pseudonym of the hardware, computed on the device, that survives a reinstall of the operating system, so the licence stays with the machine."},
		},
	},
	// threats
	{
		Name: "threat.detected", Category: herd.CategoryThreats, Retention: 30 * day, Destination: DestinationTelemetry,
		Purpose: "Sent when the agent finds a threat, so that the network can confirm the verdict, protect other devices and count how far the threat spread.",
		Fields: []Field{
			sha256Field("sha256", "The SHA-256 hash of the file: identifies the threat without sending the file.", true),
			{Name: "sha1", Kind: KindString, Rule: RuleHash, MaxLen: 40, Pattern: sha1Pattern, Purpose: "The SHA-1 hash, to match threat reports that only give SHA-1."},
			{Name: "md5", Kind: KindString, Rule: RuleHash, MaxLen: 32, Pattern: md5Pattern, Purpose: "The MD5 hash, to match threat reports that only give MD5."},
			{Name: "threat_name", Kind: KindString, Rule: RuleText, MaxLen: herd.MaxThreatName, Purpose: "The name the verdict gave the threat."},
			{Name: "method", Kind: KindString, Rule: RuleNone, MaxLen: 16, Enum: []string{"signature", "behaviour", "cloud", "heuristic", "analyst"}, Purpose: "How the threat was found, to measure each method's worth and its false alarms."},
			{Name: "action", Kind: KindString, Rule: RuleNone, MaxLen: 16, Enum: []string{"reported", "quarantined", "deleted", "blocked", "none"}, Purpose: "What the agent did about it."},
			{Name: "path", Kind: KindString, Rule: RulePath, MaxLen: MaxPathLen, Purpose: "Where the file was, with user folders and user names replaced, to learn where threats hide and how they arrive."},
			{Name: "rule_id", Kind: KindString, Rule: RuleNone, MaxLen: 64, Pattern: ruleIDPattern, Purpose: "The signature or behaviour rule that matched, to find rules that misfire."},
		},
	},
	// apps
	{
		Name: "app.installed", Category: herd.CategoryApps, Retention: 30 * day, Destination: DestinationTelemetry,
		Purpose: "Sent when the agent first sees an application, so that known-good software is recognised and never flagged, and applications can be given categories.",
		Fields: []Field{
			{Name: "name", Kind: KindString, Rule: RuleText, MaxLen: 128, Required: true, Purpose: "The application's name as its package gives it."},
			{Name: "version", Kind: KindString, Rule: RuleText, MaxLen: 64, Purpose: "Its version."},
			{Name: "publisher", Kind: KindString, Rule: RuleText, MaxLen: 128, Purpose: "Who publishes it."},
			{Name: "source", Kind: KindString, Rule: RuleNone, MaxLen: 16, Enum: []string{"dpkg", "rpm", "flatpak", "snap", "other"}, Purpose: "Which package system installed it."},
			sha256Field("sha256", "The SHA-256 hash of its main executable, to mark exactly that file as known-good.", false),
		},
	},
	// os-events
	{
		Name: "process.start", Category: herd.CategoryOSEvents, Retention: 7 * day, Destination: DestinationTelemetry,
		Purpose: "Sent when a process starts that a behaviour rule finds interesting, so that new malware is caught by what it does.",
		Fields: []Field{
			sha256Field("image_sha256", "The SHA-256 hash of the program that started.", true),
			{Name: "image_path", Kind: KindString, Rule: RulePath, MaxLen: MaxPathLen, Purpose: "Where the program is, with user folders and user names replaced."},
			{Name: "parent_path", Kind: KindString, Rule: RulePath, MaxLen: MaxPathLen, Purpose: "Which program started it, with user folders and user names replaced: a document reader that starts a shell is a warning sign."},
			{Name: "command_line", Kind: KindString, Rule: RuleText, FreeText: true, MaxLen: MaxPathLen, Purpose: "The command line, with names, addresses, paths, secrets and tokens removed: malware gives itself away by its arguments."},
			{Name: "rule_id", Kind: KindString, Rule: RuleNone, MaxLen: 64, Pattern: ruleIDPattern, Purpose: "The behaviour rule that found the process interesting."},
		},
	},
	// suspicious
	{
		Name: "sample.offered", Category: herd.CategorySuspicious, Retention: 30 * day, Destination: DestinationTelemetry,
		Purpose: "Sent when the agent holds an unknown file that behaved suspiciously; the cloud answers whether it wants the file, which is then uploaded separately, encrypted, and kept in the device's region.",
		Fields: []Field{
			sha256Field("sha256", "The SHA-256 hash of the file, so that a file already received is not asked for again.", true),
			{Name: "size", Kind: KindInteger, Rule: RuleNone, Min: 0, Max: 1 << 40, Purpose: "Its size in bytes, to decline files over the upload cap."},
			{Name: "file_type", Kind: KindString, Rule: RuleNone, MaxLen: 16, Enum: []string{"elf", "pe", "script", "macho", "other"}, Purpose: "What kind of executable it is, to route it to the right analysis."},
		},
	},
	// wifi
	{
		Name: "wifi.seen", Category: herd.CategoryWiFi, Retention: 7 * day, Destination: DestinationTelemetry,
		Purpose: "Sent when the device joins a Wi-Fi network, so that access points that are unprotected or known to be hostile can be warned about.",
		Fields: []Field{
			{Name: "bssid", Kind: KindString, Rule: RuleKeyed, MaxLen: 64, Pattern: keyedPattern, Required: true, Purpose: "A keyed pseudonym of the access point's hardware address, computed on the device with a key shared by the region's agents: the same access point looks the same from every device, the address itself never leaves."},
			{Name: "security", Kind: KindString, Rule: RuleNone, MaxLen: 16, Enum: []string{"open", "wep", "wpa", "wpa2", "wpa3", "wpa-tkip", "unknown"}, Purpose: "How the access point protects its traffic."},
		},
	},
	// web
	{
		Name: "url.check", Category: herd.CategoryWeb, Retention: 7 * day, Destination: DestinationTelemetry,
		Purpose: "Sent when the agent checks an address before it is opened, so that a phishing or malicious site reported once is blocked for everyone.",
		Fields: []Field{
			{Name: "url", Kind: KindString, Rule: RuleURL, MaxLen: herd.MaxURLLen, Required: true, Purpose: "The address, stripped of user names, passwords, session and account identifiers, e-mail addresses, the fragment and every query parameter not known to be harmless."},
			{Name: "verdict", Kind: KindString, Rule: RuleNone, MaxLen: 16, Enum: []string{"malicious", "suspicious", "clean", "unknown"}, Purpose: "The verdict the agent acted on."},
			{Name: "blocked", Kind: KindBoolean, Rule: RuleNone, Purpose: "Whether the agent blocked the address."},
		},
	},
	// contact
	{
		Name: "contact.info", Category: herd.CategoryContact, Retention: 0, Destination: DestinationIdentity,
		Purpose: "Sent when the person gives their e-mail address in the agent, so that they can sign in to the portal and receive alerts. It goes to the identity store only and is never joined with telemetry.",
		Fields: []Field{
			{Name: "email", Kind: KindString, Rule: RuleNone, MaxLen: 254, Pattern: `^[^@\s]+@[^@\s]+$`, Required: true, Purpose: "The address to sign in with and to send alerts to."},
			{Name: "display_name", Kind: KindString, Rule: RuleNone, MaxLen: 128, Pattern: `^[^\x00-\x1f\x7f]+$`, Purpose: "Optional: how the person wishes to be addressed in the portal and in e-mails."},
		},
	},
}
