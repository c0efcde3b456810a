package inventory_test

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/inventory"
)

// The declared inventory, field by field: a change to what may leave a
// device must change this test too.
func TestDeclaredTypes(t *testing.T) {
	want := []struct {
		name     string
		category herd.Category
		fields   string // name:kind:rule, "!" after a required field
		dest     string
	}{
		{"license.info", "license", "product_version:string:none! sigdb_version:string:none license_id:string:keyed", "telemetry"},
		{"scan.finished", "operation", "duration_ms:integer:none files:integer:none bytes:integer:none detections:integer:none errors:integer:none trigger:string:none", "telemetry"},
		{"feature.used", "operation", "feature:string:none! used:boolean:none", "telemetry"},
		{"agent.error", "operation", "component:string:none! code:string:none! message:string:text", "telemetry"},
		{"device.info", "device", "device_type:string:none os_family:string:none! os_version:string:none hw_fingerprint:string:keyed", "telemetry"},
		{"threat.detected", "threats", "sha256:string:hash! sha1:string:hash md5:string:hash threat_name:string:text method:string:none action:string:none path:string:path rule_id:string:none", "telemetry"},
		{"app.installed", "apps", "name:string:text! version:string:text publisher:string:text source:string:none sha256:string:hash", "telemetry"},
		{"process.start", "os-events", "image_sha256:string:hash! image_path:string:path parent_path:string:path command_line:string:text rule_id:string:none", "telemetry"},
		{"sample.offered", "suspicious", "sha256:string:hash! size:integer:none file_type:string:none", "telemetry"},
		{"wifi.seen", "wifi", "bssid:string:keyed! security:string:none", "telemetry"},
		{"url.check", "web", "url:string:url! verdict:string:none blocked:boolean:none", "telemetry"},
		{"contact.info", "contact", "email:string:none! display_name:string:none", "identity"},
	}
	got := inventory.Types()
	if len(got) != len(want) {
		t.Fatalf("%d event types, want %d", len(got), len(want))
	}
	for i, w := range want {
		et := got[i]
		var fs []string
		for _, f := range et.Fields {
			s := f.Name + ":" + string(f.Kind) + ":" + string(f.Rule)
			if f.Required {
				s += "!"
			}
			fs = append(fs, s)
		}
		if et.Name != w.name || et.Category != w.category || strings.Join(fs, " ") != w.fields || et.Destination != w.dest {
			t.Errorf("type %d = %s (%s → %s) {%s}\nwant %s (%s → %s) {%s}", i, et.Name, et.Category, et.Destination, strings.Join(fs, " "), w.name, w.category, w.dest, w.fields)
		}
	}
	for _, tt := range []struct {
		typ, field string
		enum       []string
	}{
		{"scan.finished", "trigger", []string{"manual", "scheduled", "realtime"}},
		{"feature.used", "feature", []string{"scan", "realtime", "quarantine", "cloud-lookup", "private-lookup", "rules"}},
		{"agent.error", "component", []string{"scan", "outbox", "cloud", "rules", "watch"}},
		{"device.info", "device_type", []string{"desktop", "laptop", "server", "virtual-machine", "container", "phone", "other"}},
		{"device.info", "os_family", []string{"linux", "windows", "macos", "android", "ios", "bsd", "other"}},
		{"threat.detected", "method", []string{"signature", "behaviour", "cloud", "heuristic", "analyst"}},
		{"threat.detected", "action", []string{"reported", "quarantined", "deleted", "blocked", "none"}},
		{"app.installed", "source", []string{"dpkg", "rpm", "flatpak", "snap", "other"}},
		{"sample.offered", "file_type", []string{"elf", "pe", "script", "macho", "other"}},
		{"wifi.seen", "security", []string{"open", "wep", "wpa", "wpa2", "wpa3", "wpa-tkip", "unknown"}},
		{"url.check", "verdict", []string{"malicious", "suspicious", "clean", "unknown"}},
	} {
		et, _ := inventory.Get(tt.typ)
		f, ok := et.Field(tt.field)
		if !ok || !reflect.DeepEqual(f.Enum, tt.enum) {
			t.Errorf("%s.%s enum = %v, want %v", tt.typ, tt.field, f, tt.enum)
		}
	}
}

// The rules every declaration must follow, whatever is added later.
func TestDeclarationRules(t *testing.T) {
	typeName := regexp.MustCompile(`^[a-z]+\.[a-z]+$`)
	fieldName := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	seenTypes := map[string]bool{}
	seenCategories := map[herd.Category]bool{}
	lastCategory := -1
	for _, et := range inventory.Types() {
		where := et.Name
		if !typeName.MatchString(et.Name) || seenTypes[et.Name] {
			t.Errorf("%s: bad or repeated name", where)
		}
		seenTypes[et.Name] = true
		ci := slices.Index(herd.Categories, et.Category)
		if ci < 0 {
			t.Errorf("%s: category %q is not a category", where, et.Category)
		}
		if ci < lastCategory {
			t.Errorf("%s: not in the order of herd.Categories", where)
		}
		lastCategory = ci
		seenCategories[et.Category] = true
		checkSentence(t, where+": purpose", et.Purpose)
		switch et.Destination {
		case inventory.DestinationIdentity:
			if et.Category != herd.CategoryContact || et.Retention != 0 {
				t.Errorf("%s: only contact data goes to the identity store, kept until deleted", where)
			}
		case inventory.DestinationTelemetry:
			if et.Category == herd.CategoryContact {
				t.Errorf("%s: contact data must go to the identity store only", where)
			}
			if et.Retention <= 0 || et.Retention > inventory.MaxRetention || et.Retention%(24*time.Hour) != 0 {
				t.Errorf("%s: retention %v: want whole days, at most %v", where, et.Retention, inventory.MaxRetention)
			}
		default:
			t.Errorf("%s: destination %q", where, et.Destination)
		}
		seenFields := map[string]bool{}
		for _, f := range et.Fields {
			where := et.Name + "." + f.Name
			if !fieldName.MatchString(f.Name) || seenFields[f.Name] {
				t.Errorf("%s: bad or repeated name", where)
			}
			seenFields[f.Name] = true
			checkSentence(t, where+": purpose", f.Purpose)
			if !slices.Contains(inventory.Rules, f.Rule) {
				t.Errorf("%s: rule %q", where, f.Rule)
			}
			if f.FreeText && f.Rule != inventory.RuleText {
				t.Errorf("%s: free text must be scrubbed with the text rule", where)
			}
			switch f.Kind {
			case inventory.KindString, inventory.KindStrings:
				if f.MaxLen <= 0 {
					t.Errorf("%s: a string needs MaxLen", where)
				}
				if f.Kind == inventory.KindStrings && f.MaxItems <= 0 {
					t.Errorf("%s: a list needs MaxItems", where)
				}
				if f.Rule == inventory.RuleNone && len(f.Enum) == 0 && f.Pattern == "" {
					t.Errorf("%s: a string without a rule needs an enum or a pattern", where)
				}
				if f.Rule == inventory.RuleKeyed && f.Pattern != `^[0-9a-fA-F]{32,64}$` {
					t.Errorf("%s: a keyed field must be 32 to 64 hex digits, pattern %q", where, f.Pattern)
				}
				if f.Rule == inventory.RuleHash && !regexp.MustCompile(`^\^\[0-9a-fA-F\]\{(32|40|64)\}\$$`).MatchString(f.Pattern) {
					t.Errorf("%s: a hash must have a hex pattern, got %q", where, f.Pattern)
				}
				for _, e := range f.Enum {
					if len(e) > f.MaxLen {
						t.Errorf("%s: enum value %q longer than MaxLen", where, e)
					}
				}
			case inventory.KindInteger:
				if f.Rule != inventory.RuleNone || f.Max <= f.Min {
					t.Errorf("%s: an integer needs rule none and Max > Min", where)
				}
			case inventory.KindBoolean:
				if f.Rule != inventory.RuleNone {
					t.Errorf("%s: a boolean needs rule none", where)
				}
			default:
				t.Errorf("%s: kind %q", where, f.Kind)
			}
		}
	}
	for _, c := range herd.Categories {
		if !seenCategories[c] {
			t.Errorf("category %s has no event type", c)
		}
	}
	cats := inventory.Categories()
	if len(cats) != len(herd.Categories) {
		t.Fatalf("%d category descriptions, want %d", len(cats), len(herd.Categories))
	}
	for i, c := range cats {
		if c.Category != herd.Categories[i] || c.Title == "" {
			t.Errorf("category %d: %+v", i, c)
		}
		checkSentence(t, string(c.Category)+": purpose", c.Purpose)
	}
}

func checkSentence(t *testing.T, where, s string) {
	t.Helper()
	if len(s) < 10 || !unicode.IsUpper([]rune(s)[0]) || !strings.HasSuffix(s, ".") {
		t.Errorf("%s %q: write a sentence for people", where, s)
	}
}

func TestGet(t *testing.T) {
	et, ok := inventory.Get("wifi.seen")
	if !ok || et.Name != "wifi.seen" || et.Category != herd.CategoryWiFi {
		t.Fatalf("Get(wifi.seen) = %+v, %v", et, ok)
	}
	if _, ok := inventory.Get("keystrokes.logged"); ok {
		t.Fatal("Get found an undeclared type")
	}
	// Types returns a copy: changing it does not change the inventory.
	ts := inventory.Types()
	ts[0].Fields[0].Name = "changed"
	ts[0].Fields[0].Enum = append(ts[0].Fields[0].Enum, "x")
	if et, _ := inventory.Get(ts[0].Name); et.Fields[0].Name == "changed" || len(et.Fields[0].Enum) != 0 {
		t.Fatal("Types shares memory with the inventory")
	}
}

// specialCategory reports a word that names a special category of personal
// data (GDPR art. 9), or "".
func specialCategory(s string) string {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) })
	for _, w := range words {
		for _, p := range []string{"relig", "politic", "health", "sex", "ethnic", "racial", "biometric", "genetic"} {
			if strings.HasPrefix(w, p) {
				return w
			}
		}
		switch w {
		case "race", "races", "union", "unions":
			return w
		}
	}
	return ""
}

func TestSpecialCategoryDetector(t *testing.T) {
	for _, s := range []string{"Religious views", "political_party", "health_record", "Sexual orientation", "sex", "ethnicity",
		"race", "racial origin", "trade_union_member", "Trade-union membership", "biometric template", "GeneticMarkers"} {
		if specialCategory(s) == "" {
			t.Errorf("specialCategory(%q) missed it", s)
		}
	}
	for _, s := range []string{"stack trace", "reunion", "threat_name", "command_line", "Wessex"} {
		if w := specialCategory(s); w != "" {
			t.Errorf("specialCategory(%q) = %q, want nothing", s, w)
		}
	}
}

// The inventory has no field for special categories of personal data.
func TestNoSpecialCategories(t *testing.T) {
	check := func(where, s string) {
		if w := specialCategory(s); w != "" {
			t.Errorf("%s mentions %q: the inventory must have no field for special categories of data: %q", where, w, s)
		}
	}
	for _, c := range inventory.Categories() {
		check(string(c.Category)+" title", c.Title)
		check(string(c.Category)+" purpose", c.Purpose)
	}
	for _, et := range inventory.Types() {
		check(et.Name, et.Name)
		check(et.Name+" purpose", et.Purpose)
		for _, f := range et.Fields {
			check(et.Name+"."+f.Name, f.Name)
			check(et.Name+"."+f.Name+" purpose", f.Purpose)
			for _, e := range f.Enum {
				check(et.Name+"."+f.Name+" value", e)
			}
		}
	}
	for _, d := range inventory.DerivedFields() {
		check("derived "+d.Name, d.Name+" "+d.Purpose)
	}
}
