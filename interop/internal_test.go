package interop

import "testing"

// RFC 9562 and Python's uuid module agree on this name-based UUID.
func TestUUIDv5(t *testing.T) {
	dns := uuid{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	if got, want := uuidV5(dns, "python.org").String(), "886313e1-3b8a-5372-9b90-0c9aee199e5d"; got != want {
		t.Errorf("uuidV5(DNS, python.org) = %s, want %s", got, want)
	}
	if !isUUID(herdNamespace.String()) || isUUID("886313e1-3b8a-5372-9b90_0c9aee199e5d") || isUUID("886313e1") {
		t.Error("isUUID")
	}
}
