package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"
)

func testMAC(key string) MAC {
	return func(b []byte) (string, error) {
		m := hmac.New(sha256.New, []byte(key))
		m.Write(b)
		return hex.EncodeToString(m.Sum(nil)), nil
	}
}

func chain(t *testing.T, n int) []Entry {
	t.Helper()
	var out []Entry
	for i := range n {
		var prev *Entry
		if len(out) > 0 {
			prev = &out[len(out)-1]
		}
		e, err := Seal(Entry{Time: time.Unix(int64(1700000000+i), 0).UTC(), Operator: "ops", Action: "GET /v1/admin/licenses/{id}", Target: fmt.Sprint("L", i)}, prev, testMAC("k"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// TestTamper: editing, deleting, inserting or swapping entries is detected,
// at the entry where it happened; an intact chain verifies.
func TestTamper(t *testing.T) {
	mac := testMAC("k")
	if r := Verify(chain(t, 10), mac); !r.OK || r.Entries != 10 || r.Head == "" {
		t.Fatalf("intact chain: %+v", r)
	}
	cases := []struct {
		name   string
		tamper func([]Entry) []Entry
		bad    uint64
	}{
		{"edit a target", func(c []Entry) []Entry { c[4].Target = "L99"; return c }, 5},
		{"edit the operator", func(c []Entry) []Entry { c[0].Operator = "someone else"; return c }, 1},
		{"edit the time", func(c []Entry) []Entry { c[9].Time = c[9].Time.Add(time.Hour); return c }, 10},
		{"delete one", func(c []Entry) []Entry { return append(c[:3], c[4:]...) }, 4},
		{"delete the first", func(c []Entry) []Entry { return c[1:] }, 1},
		{"swap two", func(c []Entry) []Entry { c[2], c[3] = c[3], c[2]; return c }, 3},
		{"swap and renumber", func(c []Entry) []Entry {
			c[2], c[3] = c[3], c[2]
			c[2].Seq, c[3].Seq = 3, 4
			return c
		}, 3},
		{"delete and renumber the rest", func(c []Entry) []Entry {
			c = append(c[:5], c[6:]...)
			for i := 5; i < len(c); i++ {
				c[i].Seq--
			}
			return c
		}, 6},
		{"re-chain without the key", func(c []Entry) []Entry {
			c[5].Target = "forged"
			for i := 5; i < len(c); i++ {
				c[i].Prev = c[i-1].Chain
				c[i], _ = Seal(c[i], &c[i-1], testMAC("guessed key"))
			}
			return c
		}, 6},
	}
	for _, tc := range cases {
		r := Verify(tc.tamper(chain(t, 10)), mac)
		if r.OK || r.BadSeq != tc.bad || r.Problem == "" {
			t.Errorf("%s: %+v, want a break at entry %d", tc.name, r, tc.bad)
		}
	}
}
