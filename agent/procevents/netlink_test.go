package procevents

import (
	"encoding/binary"
	"strings"
	"testing"
)

// message builds one netlink message of type typ carrying a connector
// message with id idx/val whose data is a proc_event of kind what with
// body, as the kernel lays it out.
func message(typ uint16, idx, val, seq, ack, what uint32, body []byte) []byte {
	ne := binary.NativeEndian
	data := make([]byte, procHdrLen+len(body))
	ne.PutUint32(data[0:4], what)
	ne.PutUint32(data[4:8], 1)             // cpu
	ne.PutUint64(data[8:16], 123456789000) // timestamp
	copy(data[procHdrLen:], body)
	cn := make([]byte, cnMsgLen+len(data))
	ne.PutUint32(cn[0:4], idx)
	ne.PutUint32(cn[4:8], val)
	ne.PutUint32(cn[8:12], seq)
	ne.PutUint32(cn[12:16], ack)
	ne.PutUint16(cn[16:18], uint16(len(data)))
	copy(cn[cnMsgLen:], data)
	n := nlmsgHdrLen + len(cn)
	b := make([]byte, (n+3)&^3)
	ne.PutUint32(b[0:4], uint32(n))
	ne.PutUint16(b[4:6], typ)
	ne.PutUint32(b[8:12], seq)
	copy(b[nlmsgHdrLen:], cn)
	return b
}

func u32s(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.NativeEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func execMessage(pid, tgid uint32) []byte {
	// The kernel's union is as large as its largest member (exit: 6 ids).
	return message(nlmsgDone, cnIdxProc, cnValProc, 7, 0, procEventExec, u32s(pid, tgid, 0, 0, 0, 0))
}

func TestDecodeExecAndAck(t *testing.T) {
	var b []byte
	b = append(b, execMessage(4242, 4241)...)
	b = append(b, message(nlmsgDone, cnIdxProc, cnValProc, 9, 11, procEventNone, u32s(0))...)
	b = append(b, message(nlmsgDone, cnIdxProc, cnValProc, 10, 0, 1 /* fork */, u32s(1, 1, 2, 2))...)
	b = append(b, message(nlmsgNoop, 0, 0, 0, 0, 0, nil)...)
	evs, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("got %d events %+v, want exec and acknowledgement", len(evs), evs)
	}
	if e := evs[0]; e.What != procEventExec || e.PID != 4242 || e.TGID != 4241 || e.Timestamp != 123456789000 || e.Seq != 7 {
		t.Errorf("exec event: %+v", e)
	}
	if e := evs[1]; e.What != procEventNone || e.Seq != 9 || e.Ack != 11 || e.Err != 0 {
		t.Errorf("acknowledgement: %+v", e)
	}
}

// The subscription message the agent sends is one the decoder (and so the
// kernel's layout) agrees with: a connector message of process events.
func TestMcastMessageLayout(t *testing.T) {
	b := mcastMessage(procCnMcastListen, 5, 6)
	ne := binary.NativeEndian
	if int(ne.Uint32(b[0:4])) != len(b) || len(b) != nlmsgHdrLen+cnMsgLen+4 {
		t.Fatalf("length field %d, message %d bytes", ne.Uint32(b[0:4]), len(b))
	}
	c := b[nlmsgHdrLen:]
	if ne.Uint32(c[0:4]) != cnIdxProc || ne.Uint32(c[4:8]) != cnValProc || ne.Uint32(c[8:12]) != 5 || ne.Uint32(c[12:16]) != 6 || ne.Uint16(c[16:18]) != 4 || ne.Uint32(c[20:24]) != procCnMcastListen {
		t.Fatalf("connector message % x", c)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := execMessage(10, 10)
	lenField := func(b []byte, n uint32) []byte {
		b = append([]byte(nil), b...)
		binary.NativeEndian.PutUint32(b[0:4], n)
		return b
	}
	cnLen := func(b []byte, n uint16) []byte {
		b = append([]byte(nil), b...)
		binary.NativeEndian.PutUint16(b[nlmsgHdrLen+16:], n)
		return b
	}
	errMsg := make([]byte, nlmsgHdrLen+4)
	binary.NativeEndian.PutUint32(errMsg[0:4], uint32(len(errMsg)))
	binary.NativeEndian.PutUint16(errMsg[4:6], nlmsgError)
	binary.NativeEndian.PutUint32(errMsg[16:20], uint32(0xffffffff)) // -1 (EPERM)
	cases := []struct {
		name string
		b    []byte
		want string
		n    int // events decoded before the error
	}{
		{"short header", good[:10], "10 bytes, want a header of 16", 0},
		{"length below header", lenField(good, 8), "length 8, want 16 to", 0},
		{"length past end", lenField(good, 500), "length 500, want 16 to", 0},
		{"second message cut", append(append([]byte(nil), good...), good[:20]...), "at byte 76: length", 1},
		{"kernel error", errMsg, "kernel reports error 1", 0},
		{"wrong type", message(99, cnIdxProc, cnValProc, 0, 0, procEventExec, u32s(1, 1)), "type 99", 0},
		{"not process events", message(nlmsgDone, 3, 1, 0, 0, procEventExec, u32s(1, 1)), "id 3/1", 0},
		{"short connector", lenField(good[:30], 30), "connector message: 14 bytes", 0},
		{"connector length past end", cnLen(good, 200), "data length 200", 0},
		{"short event header", cnLen(good, 8), "process event: 8 bytes", 0},
		{"short exec", message(nlmsgDone, cnIdxProc, cnValProc, 0, 0, procEventExec, u32s(1)), "exec event: 4 bytes, want 8", 0},
		{"short ack", message(nlmsgDone, cnIdxProc, cnValProc, 0, 0, procEventNone, nil), "acknowledgement: 0 bytes", 0},
		{"bad process id", message(nlmsgDone, cnIdxProc, cnValProc, 0, 0, procEventExec, u32s(1, 0)), "process id 0", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, err := decode(c.b)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
			if len(evs) != c.n {
				t.Errorf("%d events kept, want %d", len(evs), c.n)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(execMessage(4242, 4241))
	f.Add(append(execMessage(1, 1), message(nlmsgDone, cnIdxProc, cnValProc, 9, 11, procEventNone, u32s(0))...))
	f.Add(mcastMessage(procCnMcastListen, 1, 2))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, _ := decode(b)
		// Each event takes a whole message of at least its headers.
		if max := len(b) / (nlmsgHdrLen + cnMsgLen + procHdrLen + 4); len(evs) > max {
			t.Fatalf("%d events from %d bytes", len(evs), len(b))
		}
		for _, e := range evs {
			switch e.What {
			case procEventExec:
				if e.TGID <= 0 {
					t.Fatalf("exec event with process id %d", e.TGID)
				}
			case procEventNone:
			default:
				t.Fatalf("event of kind %d kept", e.What)
			}
		}
	})
}
