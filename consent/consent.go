// Package consent decides what an agent may send: which versions of the
// licence agreement and the network statement a person accepted, the profile
// they chose and their choice per category. It is pure policy and does no I/O;
// the agent asks it before anything leaves the device and the cloud asks it
// again before anything is stored.
package consent

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/herdsec/herd"
)

// The versions of the current texts. A record allows nothing unless it
// accepted exactly these: when a text changes, people see it and accept it
// again before anything more is sent.
const (
	LicenseVersion   = "2026-11"
	StatementVersion = "2026-11"
)

// Profile names.
const (
	ProfileFull        = "full"
	ProfileHomeMinimal = "home-minimal"
	ProfileBusinessOff = "business-off"
	ProfileCustom      = "custom" // choices that match no named profile
)

// Profiles lists the named profiles a person or an organisation can choose.
var Profiles = []string{ProfileFull, ProfileHomeMinimal, ProfileBusinessOff}

// MaxClockSkew bounds how far in the future a record's time may be.
const MaxClockSkew = 24 * time.Hour

// ProfileInfo describes a named profile, for the docs and the portal.
type ProfileInfo struct {
	Name    string          `json:"name"`
	Summary string          `json:"summary"`
	On      []herd.Category `json:"on"`      // categories the profile switches on
	Lookups string          `json:"lookups"` // where verdict lookups may go
}

// Contact is on in no profile: it is switched on explicitly, when the person
// gives an e-mail address, and a record still counts as "full" or
// "home-minimal" whichever way it is set.
var profiles = []ProfileInfo{
	{
		Name:    ProfileFull,
		Summary: "Every category except contact data, which is switched on only when the person gives an e-mail address.",
		On: []herd.Category{
			herd.CategoryLicense, herd.CategoryOperation, herd.CategoryDevice, herd.CategoryThreats, herd.CategoryApps,
			herd.CategoryOSEvents, herd.CategorySuspicious, herd.CategoryWiFi, herd.CategoryWeb,
		},
		Lookups: "the configured cloud",
	},
	{
		Name:    ProfileHomeMinimal,
		Summary: "Only depersonalized licence, product, device and threat data.",
		On:      []herd.Category{herd.CategoryLicense, herd.CategoryDevice, herd.CategoryThreats},
		Lookups: "the configured cloud",
	},
	{
		Name:    ProfileBusinessOff,
		Summary: "No data at all leaves the fleet; verdict lookups go only to the organisation's own cloud, if it names one.",
		On:      nil,
		Lookups: "only the organisation's own cloud (own_cloud), or none",
	},
}

// Describe returns the description of a named profile.
func Describe(name string) (ProfileInfo, bool) {
	for _, p := range profiles {
		if p.Name == name {
			p.On = slices.Clone(p.On)
			return p, true
		}
	}
	return ProfileInfo{}, false
}

// Record is one person's (or one organisation's) consent, as the agent keeps
// it and sends it to the cloud.
type Record struct {
	// Versions of the texts accepted; "" means not accepted.
	LicenseVersion   string `json:"license_version"`
	StatementVersion string `json:"statement_version"`
	// Profile is full, home-minimal, business-off or custom.
	Profile string                 `json:"profile"`
	Choices map[herd.Category]bool `json:"choices"`
	// OwnCloud is, in business-off, the only cloud verdict lookups may go to
	// ("" = none). Other profiles ignore it.
	OwnCloud string    `json:"own_cloud,omitempty"`
	Time     time.Time `json:"time"` // when the person last changed the record
}

// FromProfile returns a record that accepts the current texts and sets every
// category as the named profile does (contact off).
func FromProfile(name string, now time.Time) (Record, error) {
	p, ok := Describe(name)
	if !ok {
		return Record{}, herd.Errorf(herd.EINVALID, "field \"profile\": %q is not one of %s", clip(name), strings.Join(Profiles, ", "))
	}
	if now.IsZero() {
		return Record{}, herd.Errorf(herd.EINVALID, "field \"time\": missing")
	}
	r := Record{
		LicenseVersion:   LicenseVersion,
		StatementVersion: StatementVersion,
		Profile:          name,
		Choices:          make(map[herd.Category]bool, len(herd.Categories)),
		Time:             stamp(now),
	}
	for _, c := range herd.Categories {
		r.Choices[c] = slices.Contains(p.On, c)
	}
	return r, nil
}

// Accepted reports whether r accepted the current versions of both texts.
func (r Record) Accepted() bool {
	return r.LicenseVersion == LicenseVersion && r.StatementVersion == StatementVersion
}

// Allows reports whether data of category c may be sent and kept: only if
// both current texts are accepted, the profile is not business-off and c is
// switched on. A record that accepted older texts allows nothing until the
// person accepts the current ones.
func (r Record) Allows(c herd.Category) bool {
	return r.Accepted() && r.granted(c)
}

// granted reports whether r switches c on, whatever the versions accepted,
// provided both texts were accepted in some version.
func (r Record) granted(c herd.Category) bool {
	if r.LicenseVersion == "" || r.StatementVersion == "" {
		return false
	}
	switch r.Profile {
	case ProfileFull, ProfileHomeMinimal, ProfileCustom:
	default: // business-off, and anything unknown: fail closed
		return false
	}
	return c.Valid() && r.Choices[c]
}

// Telemetry reports whether anything at all may be sent.
func (r Record) Telemetry() bool {
	for _, c := range herd.Categories {
		if r.Allows(c) {
			return true
		}
	}
	return false
}

// LookupsAllowed reports whether verdict lookups (hashes and scrubbed URLs)
// may go to the cloud at cloudURL. They need the current texts accepted. In
// business-off they may go only to OwnCloud (same scheme, host and port), or
// nowhere if it is empty; in the other profiles to any cloud.
func (r Record) LookupsAllowed(cloudURL string) bool {
	if !r.Accepted() {
		return false
	}
	switch r.Profile {
	case ProfileFull, ProfileHomeMinimal, ProfileCustom:
		return true
	case ProfileBusinessOff:
		if r.OwnCloud == "" {
			return false
		}
		own, err := origin(r.OwnCloud)
		if err != nil {
			return false
		}
		to, err := origin(cloudURL)
		return err == nil && to == own
	}
	return false
}

// With returns a copy of r with category c switched on or off at time now.
// The profile becomes the named profile the choices now equal, or custom. A
// business-off record stays business-off while every category is off, but no
// other record becomes business-off by switching categories: that profile
// also restricts lookups, which only an explicit choice of it may do.
func (r Record) With(c herd.Category, on bool, now time.Time) Record {
	n := r
	n.Choices = make(map[herd.Category]bool, len(herd.Categories))
	for k, v := range r.Choices {
		n.Choices[k] = v
	}
	n.Choices[c] = on
	n.Time = stamp(now)
	n.Profile = profileOf(r.Profile, n.Choices)
	return n
}

// profileOf names the profile that choices equal, given the previous one.
func profileOf(prev string, choices map[herd.Category]bool) string {
	if prev == ProfileBusinessOff && noneOn(choices) {
		return ProfileBusinessOff
	}
	for _, name := range []string{ProfileFull, ProfileHomeMinimal} {
		if matches(name, choices) {
			return name
		}
	}
	return ProfileCustom
}

// matches reports whether choices equal the named profile's on every
// category but contact, and name no unknown category.
func matches(name string, choices map[herd.Category]bool) bool {
	p, _ := Describe(name)
	for k := range choices {
		if !k.Valid() {
			return false
		}
	}
	for _, c := range herd.Categories {
		if c != herd.CategoryContact && choices[c] != slices.Contains(p.On, c) {
			return false
		}
	}
	return true
}

func noneOn(choices map[herd.Category]bool) bool {
	for _, on := range choices {
		if on {
			return false
		}
	}
	return true
}

// Withdrawn returns, in the order of herd.Categories, the categories r
// switched on and next does not: the cloud deletes what it kept of them. It
// compares the person's choices, not the texts' versions: a record that is
// merely outdated stops processing (Allows) but withdraws nothing, while
// un-accepting a text, switching a category off or choosing business-off
// withdraws.
func (r Record) Withdrawn(next Record) []herd.Category {
	var out []herd.Category
	for _, c := range herd.Categories {
		if r.granted(c) && !next.granted(c) {
			out = append(out, c)
		}
	}
	return out
}

var versionRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}$`)

// Validate checks a record received from an agent or read from storage.
// Errors are EINVALID and name the field.
func (r Record) Validate() error {
	for _, v := range []struct{ field, value string }{
		{"license_version", r.LicenseVersion},
		{"statement_version", r.StatementVersion},
	} {
		if v.value != "" && !versionRE.MatchString(v.value) {
			return invalid(v.field, "%q is not a version (want YYYY-MM)", clip(v.value))
		}
	}
	switch r.Profile {
	case "":
		return invalid("profile", "missing")
	case ProfileFull, ProfileHomeMinimal, ProfileBusinessOff, ProfileCustom:
	default:
		return invalid("profile", "%q is not one of %s, %s", clip(r.Profile), strings.Join(Profiles, ", "), ProfileCustom)
	}
	keys := make([]string, 0, len(r.Choices))
	for c := range r.Choices {
		keys = append(keys, string(c))
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !herd.Category(k).Valid() {
			return invalid("choices", "%q is not a category (want one of %s)", clip(k), categoryList())
		}
	}
	switch r.Profile {
	case ProfileBusinessOff:
		for _, c := range herd.Categories {
			if r.Choices[c] {
				return invalid("choices", "profile business-off allows no category, but %q is on", c)
			}
		}
	case ProfileFull, ProfileHomeMinimal:
		if !matches(r.Profile, r.Choices) {
			return invalid("profile", "%q does not match the choices (want %s)", r.Profile, ProfileCustom)
		}
	}
	if r.OwnCloud != "" {
		if _, err := origin(r.OwnCloud); err != nil {
			return invalid("own_cloud", "%q: %s", clip(r.OwnCloud), err.Error())
		}
	}
	if r.Time.IsZero() {
		return invalid("time", "missing")
	}
	if r.Time.After(time.Now().Add(MaxClockSkew)) {
		return invalid("time", "%s is in the future", r.Time.UTC().Format(time.RFC3339))
	}
	return nil
}

// ParseSetting parses the argument of `herd consent set`: a category and
// on or off, separated by a space or '=' ("web off", "wifi=on").
func ParseSetting(s string) (herd.Category, bool, error) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '=' })
	if len(parts) != 2 {
		return "", false, herd.Errorf(herd.EINVALID, "setting %q: want CATEGORY on|off, e.g. \"web off\"", clip(s))
	}
	c := herd.Category(strings.ToLower(parts[0]))
	if !c.Valid() {
		return "", false, herd.Errorf(herd.EINVALID, "setting %q: %q is not a category (want one of %s)", clip(s), clip(parts[0]), categoryList())
	}
	switch strings.ToLower(parts[1]) {
	case "on":
		return c, true, nil
	case "off":
		return c, false, nil
	}
	return "", false, herd.Errorf(herd.EINVALID, "setting %q: %q is not on or off", clip(s), clip(parts[1]))
}

type problem string

func (p problem) Error() string { return string(p) }

// origin returns scheme://host:port of an http or https URL, with the
// default port made explicit, so that two spellings of one cloud compare equal.
func origin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", problem("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	switch scheme {
	case "https":
		if port == "" {
			port = "443"
		}
	case "http":
		if port == "" {
			port = "80"
		}
	default:
		return "", problem("want an http:// or https:// URL")
	}
	if u.User != nil {
		return "", problem("must not contain a user name or password")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return "", problem("no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", problem("bad port")
	}
	return scheme + "://" + host + ":" + port, nil
}

func invalid(field, format string, args ...any) error {
	return herd.Errorf(herd.EINVALID, "field %q: %s", field, fmt.Sprintf(format, args...))
}

func categoryList() string {
	names := make([]string, len(herd.Categories))
	for i, c := range herd.Categories {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

// stamp drops the monotonic reading and sub-second precision so a record
// survives a JSON round trip unchanged.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func clip(s string) string {
	if len(s) <= 40 {
		return s
	}
	return strings.ToValidUTF8(s[:37], "") + "..."
}
