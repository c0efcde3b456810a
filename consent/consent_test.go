package consent_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/consent"
)

var now = time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)

func mustProfile(tb testing.TB, name string) consent.Record {
	tb.Helper()
	r, err := consent.FromProfile(name, now)
	if err != nil {
		tb.Fatalf("FromProfile(%q): %v", name, err)
	}
	return r
}

func allowed(r consent.Record) []herd.Category {
	var out []herd.Category
	for _, c := range herd.Categories {
		if r.Allows(c) {
			out = append(out, c)
		}
	}
	return out
}

func TestProfilesAllow(t *testing.T) {
	for _, tt := range []struct {
		profile   string
		want      []herd.Category
		telemetry bool
	}{
		{consent.ProfileFull, []herd.Category{"license", "operation", "device", "threats", "apps", "os-events", "suspicious", "wifi", "web"}, true},
		{consent.ProfileHomeMinimal, []herd.Category{"license", "device", "threats"}, true},
		{consent.ProfileBusinessOff, nil, false},
	} {
		r := mustProfile(t, tt.profile)
		if got := allowed(r); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s allows %v, want %v", tt.profile, got, tt.want)
		}
		if r.Telemetry() != tt.telemetry {
			t.Errorf("%s: Telemetry() = %v, want %v", tt.profile, r.Telemetry(), tt.telemetry)
		}
		if r.Profile != tt.profile || r.LicenseVersion != consent.LicenseVersion || r.StatementVersion != consent.StatementVersion || !r.Time.Equal(now) {
			t.Errorf("FromProfile(%q) = %+v", tt.profile, r)
		}
		if len(r.Choices) != len(herd.Categories) || r.Choices[herd.CategoryContact] {
			t.Errorf("%s: choices %v: want all ten categories set, contact off", tt.profile, r.Choices)
		}
		if err := r.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", tt.profile, err)
		}
		info, ok := consent.Describe(tt.profile)
		if !ok || !reflect.DeepEqual(info.On, tt.want) {
			t.Errorf("Describe(%q) = %+v, %v; want On = %v", tt.profile, info, ok, tt.want)
		}
	}
	if _, err := consent.FromProfile("custom", now); err == nil || herd.ErrorCode(err) != herd.EINVALID ||
		err.Error() != `field "profile": "custom" is not one of full, home-minimal, business-off` {
		t.Errorf("FromProfile(custom): %v", err)
	}
	if _, err := consent.FromProfile("full", time.Time{}); err == nil || err.Error() != `field "time": missing` {
		t.Errorf("FromProfile without time: %v", err)
	}
}

func TestBusinessOff(t *testing.T) {
	r := mustProfile(t, consent.ProfileBusinessOff)
	// Even a category switched on behind the profile's back is not allowed.
	r.Choices[herd.CategoryThreats] = true
	if r.Allows(herd.CategoryThreats) || r.Telemetry() {
		t.Error("business-off allowed a category")
	}
	r.Choices[herd.CategoryThreats] = false

	for _, tt := range []struct {
		own, cloud string
		want       bool
	}{
		{"", "https://cloud.herd.example", false},
		{"https://herd.corp.example", "https://herd.corp.example", true},
		{"https://herd.corp.example", "https://herd.corp.example:443/v1/lookup", true},
		{"https://HERD.corp.example.", "https://herd.corp.example/", true},
		{"https://herd.corp.example", "http://herd.corp.example", false},
		{"https://herd.corp.example", "https://herd.corp.example:8443", false},
		{"https://herd.corp.example", "https://cloud.herd.example", false},
		{"https://herd.corp.example", "https://herd.corp.example.evil.example", false},
		{"http://10.0.0.5:8440", "http://10.0.0.5:8440/v1/lookup", true},
		{"https://herd.corp.example", "not a url", false},
		{"https://herd.corp.example", "https://user@herd.corp.example", false},
	} {
		r.OwnCloud = tt.own
		if got := r.LookupsAllowed(tt.cloud); got != tt.want {
			t.Errorf("own %q: LookupsAllowed(%q) = %v, want %v", tt.own, tt.cloud, got, tt.want)
		}
	}

	for _, name := range []string{consent.ProfileFull, consent.ProfileHomeMinimal} {
		if r := mustProfile(t, name); !r.LookupsAllowed("https://cloud.herd.example") {
			t.Errorf("%s: lookups refused", name)
		}
	}
}

func TestOldVersionAllowsNothing(t *testing.T) {
	for _, tt := range []struct{ license, statement string }{
		{"2025-01", consent.StatementVersion},
		{consent.LicenseVersion, "2025-01"},
		{"", consent.StatementVersion},
		{consent.LicenseVersion, ""},
		{"", ""},
	} {
		r := mustProfile(t, consent.ProfileFull)
		r.LicenseVersion, r.StatementVersion = tt.license, tt.statement
		if got := allowed(r); got != nil {
			t.Errorf("versions %q/%q: allows %v, want nothing", tt.license, tt.statement, got)
		}
		if r.Telemetry() || r.LookupsAllowed("https://cloud.herd.example") {
			t.Errorf("versions %q/%q: telemetry or lookups allowed", tt.license, tt.statement)
		}
	}
	var zero consent.Record
	if zero.Telemetry() || zero.LookupsAllowed("https://cloud.herd.example") {
		t.Error("the zero record allows something")
	}
}

func TestWith(t *testing.T) {
	later := now.Add(time.Hour)
	for _, tt := range []struct {
		name    string
		from    string
		steps   []string // settings applied in order
		profile string
		allowed []herd.Category
	}{
		{"minimal plus web", "home-minimal", []string{"web on"}, "custom", []herd.Category{"license", "device", "threats", "web"}},
		{"back to minimal", "home-minimal", []string{"web on", "web off"}, "home-minimal", []herd.Category{"license", "device", "threats"}},
		{"minimal grows to full", "home-minimal", []string{"operation on", "apps on", "os-events on", "suspicious on", "wifi on", "web on"}, "full", []herd.Category{"license", "operation", "device", "threats", "apps", "os-events", "suspicious", "wifi", "web"}},
		{"contact keeps full", "full", []string{"contact on"}, "full", []herd.Category{"license", "operation", "device", "threats", "apps", "os-events", "suspicious", "wifi", "web", "contact"}},
		{"contact keeps minimal", "home-minimal", []string{"contact on"}, "home-minimal", []herd.Category{"license", "device", "threats", "contact"}},
		{"full minus wifi", "full", []string{"wifi off"}, "custom", []herd.Category{"license", "operation", "device", "threats", "apps", "os-events", "suspicious", "web"}},
		{"business-off switched on", "business-off", []string{"threats on"}, "custom", []herd.Category{"threats"}},
		{"business-off stays while off", "business-off", []string{"threats off"}, "business-off", nil},
		{"business-off on then off", "business-off", []string{"threats on", "threats off"}, "custom", nil},
		{"all off is not business-off", "home-minimal", []string{"license off", "device off", "threats off"}, "custom", nil},
	} {
		r := mustProfile(t, tt.from)
		before := mustProfile(t, tt.from)
		for _, s := range tt.steps {
			c, on, err := consent.ParseSetting(s)
			if err != nil {
				t.Fatalf("%s: ParseSetting(%q): %v", tt.name, s, err)
			}
			r = r.With(c, on, later)
		}
		if r.Profile != tt.profile {
			t.Errorf("%s: profile %q, want %q", tt.name, r.Profile, tt.profile)
		}
		if got := allowed(r); !reflect.DeepEqual(got, tt.allowed) {
			t.Errorf("%s: allows %v, want %v", tt.name, got, tt.allowed)
		}
		if !r.Time.Equal(later) {
			t.Errorf("%s: time %v, want %v", tt.name, r.Time, later)
		}
		if err := r.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", tt.name, err)
		}
		// With must not change the record it was called on.
		orig := mustProfile(t, tt.from)
		if !reflect.DeepEqual(before, orig) {
			t.Errorf("%s: With modified its receiver", tt.name)
		}
	}
	r := mustProfile(t, consent.ProfileBusinessOff)
	r.OwnCloud = "https://herd.corp.example"
	if r.With(herd.CategoryWeb, false, later).OwnCloud != r.OwnCloud {
		t.Error("With lost own_cloud")
	}
}

func TestWithDoesNotShareChoices(t *testing.T) {
	r := mustProfile(t, consent.ProfileHomeMinimal)
	n := r.With(herd.CategoryWeb, true, now)
	if r.Choices[herd.CategoryWeb] || !n.Choices[herd.CategoryWeb] {
		t.Fatalf("With shares its choices map: before %v, after %v", r.Choices, n.Choices)
	}
}

func TestWithdrawn(t *testing.T) {
	full := mustProfile(t, consent.ProfileFull)
	minimal := mustProfile(t, consent.ProfileHomeMinimal)
	off := mustProfile(t, consent.ProfileBusinessOff)
	withContact := minimal.With(herd.CategoryContact, true, now)
	unaccepted := full
	unaccepted.StatementVersion = ""
	outdated := minimal
	outdated.LicenseVersion, outdated.StatementVersion = "2025-01", "2025-01"

	for _, tt := range []struct {
		name     string
		from, to consent.Record
		want     []herd.Category
	}{
		{"full to minimal", full, minimal, []herd.Category{"operation", "apps", "os-events", "suspicious", "wifi", "web"}},
		{"minimal to full", minimal, full, nil},
		{"minimal to business-off", minimal, off, []herd.Category{"license", "device", "threats"}},
		{"contact removed", withContact, minimal, []herd.Category{"contact"}},
		{"one category off", full, full.With(herd.CategoryWiFi, false, now), []herd.Category{"wifi"}},
		{"statement un-accepted", minimal, func() consent.Record { r := minimal; r.StatementVersion = ""; return r }(), []herd.Category{"license", "device", "threats"}},
		{"from unaccepted", unaccepted, minimal, nil},
		{"texts merely outdated", outdated, minimal, nil},
		{"to outdated with same choices", minimal, outdated, nil},
		{"business-off to full", off, full, nil},
		{"unchanged", full, full, nil},
	} {
		if got := tt.from.Withdrawn(tt.to); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Withdrawn = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*consent.Record)
		want   string // "" = valid
	}{
		{"valid", func(r *consent.Record) {}, ""},
		{"not accepted is valid", func(r *consent.Record) { r.LicenseVersion, r.StatementVersion = "", "" }, ""},
		{"bad license version", func(r *consent.Record) { r.LicenseVersion = "v2" }, `field "license_version": "v2" is not a version (want YYYY-MM)`},
		{"bad statement version", func(r *consent.Record) { r.StatementVersion = "2026-1" }, `field "statement_version": "2026-1" is not a version (want YYYY-MM)`},
		{"missing profile", func(r *consent.Record) { r.Profile = "" }, `field "profile": missing`},
		{"unknown profile", func(r *consent.Record) { r.Profile = "paranoid" }, `field "profile": "paranoid" is not one of full, home-minimal, business-off, custom`},
		{"unknown category", func(r *consent.Record) { r.Choices["religion"] = false }, `field "choices": "religion" is not a category (want one of license, operation, device, threats, apps, os-events, suspicious, wifi, web, contact)`},
		{"profile does not match", func(r *consent.Record) { r.Choices[herd.CategoryWeb] = true }, `field "profile": "home-minimal" does not match the choices (want custom)`},
		{"custom matching minimal is fine", func(r *consent.Record) { r.Profile = consent.ProfileCustom }, ""},
		{"business-off with a category on", func(r *consent.Record) {
			r.Profile = consent.ProfileBusinessOff
			r.Choices = map[herd.Category]bool{herd.CategoryApps: true}
		}, `field "choices": profile business-off allows no category, but "apps" is on`},
		{"own cloud not a URL", func(r *consent.Record) { r.OwnCloud = "herd.corp.example" }, `field "own_cloud": "herd.corp.example": want an http:// or https:// URL`},
		{"own cloud with password", func(r *consent.Record) { r.OwnCloud = "https://a:b@herd.corp.example" }, `field "own_cloud": "https://a:b@herd.corp.example": must not contain a user name or password`},
		{"missing time", func(r *consent.Record) { r.Time = time.Time{} }, `field "time": missing`},
		{"far future", func(r *consent.Record) { r.Time = time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC) }, `field "time": 2999-01-01T00:00:00Z is in the future`},
		{"two days ahead", func(r *consent.Record) { r.Time = time.Now().Add(48 * time.Hour).Truncate(time.Second) }, `is in the future`},
		{"an hour ahead (clock skew)", func(r *consent.Record) { r.Time = time.Now().Add(time.Hour) }, ""},
	} {
		r := mustProfile(t, consent.ProfileHomeMinimal)
		tt.change(&r)
		err := r.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Validate: %v", tt.name, err)
		case tt.want != "" && err == nil:
			t.Errorf("%s: Validate passed, want %q", tt.name, tt.want)
		case tt.want != "" && (herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: Validate = %q (%s), want EINVALID %q", tt.name, err, herd.ErrorCode(err), tt.want)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := mustProfile(t, consent.ProfileBusinessOff)
	r.OwnCloud = "https://herd.corp.example"
	r = r.With(herd.CategoryThreats, true, now.Add(90*time.Minute))
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"license_version":"2026-11","statement_version":"2026-11","profile":"custom","choices":{"apps":false,"contact":false,"device":false,"license":false,"operation":false,"os-events":false,"suspicious":false,"threats":true,"web":false,"wifi":false},"own_cloud":"https://herd.corp.example","time":"2026-11-25T12:00:00Z"}`
	if string(b) != want {
		t.Fatalf("JSON:\n%s\nwant\n%s", b, want)
	}
	var back consent.Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip: %+v, want %+v", back, r)
	}
	if got := allowed(back); !reflect.DeepEqual(got, []herd.Category{herd.CategoryThreats}) {
		t.Fatalf("after round trip allows %v", got)
	}
}

func TestParseSetting(t *testing.T) {
	for _, tt := range []struct {
		in   string
		cat  herd.Category
		on   bool
		want string // error text, "" = ok
	}{
		{in: "web off", cat: herd.CategoryWeb, on: false},
		{in: "wifi=on", cat: herd.CategoryWiFi, on: true},
		{in: "OS-Events  ON", cat: herd.CategoryOSEvents, on: true},
		{in: "contact on", cat: herd.CategoryContact, on: true},
		{in: "web", want: `setting "web": want CATEGORY on|off, e.g. "web off"`},
		{in: "web on off", want: `want CATEGORY on|off`},
		{in: "health on", want: `setting "health on": "health" is not a category (want one of license, operation, device, threats, apps, os-events, suspicious, wifi, web, contact)`},
		{in: "web maybe", want: `setting "web maybe": "maybe" is not on or off`},
	} {
		c, on, err := consent.ParseSetting(tt.in)
		if tt.want != "" {
			if err == nil || herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseSetting(%q) = %v, %v, %v; want EINVALID %q", tt.in, c, on, err, tt.want)
			}
			continue
		}
		if err != nil || c != tt.cat || on != tt.on {
			t.Errorf("ParseSetting(%q) = %v, %v, %v; want %v, %v", tt.in, c, on, err, tt.cat, tt.on)
		}
	}
}
