package herd

// Category is one of the ten kinds of data an agent may send, each with its
// own consent choice.
type Category string

const (
	CategoryLicense    Category = "license"    // license & product
	CategoryOperation  Category = "operation"  // product operation
	CategoryDevice     Category = "device"     // device type, OS, keyed hardware fingerprint
	CategoryThreats    Category = "threats"    // threats detected
	CategoryApps       Category = "apps"       // installed applications
	CategoryOSEvents   Category = "os-events"  // process starts and other OS events
	CategorySuspicious Category = "suspicious" // suspicious files
	CategoryWiFi       Category = "wifi"       // Wi-Fi access points
	CategoryWeb        Category = "web"        // URL checks
	CategoryContact    Category = "contact"    // e-mail, display name: identity store only
)

// Categories lists every category in a stable order.
var Categories = []Category{
	CategoryLicense, CategoryOperation, CategoryDevice, CategoryThreats, CategoryApps,
	CategoryOSEvents, CategorySuspicious, CategoryWiFi, CategoryWeb, CategoryContact,
}

// Valid reports whether c is one of the ten categories.
func (c Category) Valid() bool {
	for _, k := range Categories {
		if c == k {
			return true
		}
	}
	return false
}
