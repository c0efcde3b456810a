package procevents

import (
	"encoding/binary"
	"fmt"
)

// The kernel's process-event connector speaks netlink: each datagram holds
// netlink messages (nlmsghdr), each carrying a connector message (cn_msg)
// whose data is one proc_event. Integers are in the host's byte order.
// The values below are from linux/netlink.h, linux/connector.h and
// linux/cn_proc.h; golang.org/x/sys/unix names only NETLINK_CONNECTOR.
const (
	nlmsgHdrLen = 16 // len u32, type u16, flags u16, seq u32, pid u32
	cnMsgLen    = 20 // id.idx u32, id.val u32, seq u32, ack u32, len u16, flags u16
	procHdrLen  = 16 // what u32, cpu u32, timestamp_ns u64

	nlmsgNoop    = 1
	nlmsgError   = 2
	nlmsgDone    = 3
	nlmsgOverrun = 4

	cnIdxProc = 1 // the connector id of process events, also their multicast group
	cnValProc = 1

	procCnMcastListen = 1
	procCnMcastIgnore = 2

	procEventNone = 0 // the kernel's acknowledgement of a subscription
	procEventExec = 2
)

// procEvent is one decoded process event. Only the parts this package
// uses are kept: the exec event's ids and the acknowledgement's result.
type procEvent struct {
	What      uint32
	Timestamp uint64 // ns since boot (monotonic clock)
	Seq, Ack  uint32 // of the connector message
	PID, TGID int32  // exec: the thread that called exec, and its process
	Err       uint32 // none (acknowledgement): the errno of the subscription, 0 on success
}

// decode decodes one datagram read from the connector socket. It returns
// the process events it holds, in order, and an error naming the first
// part that is short or garbled; the events decoded before it are
// returned with the error.
func decode(b []byte) ([]procEvent, error) {
	var out []procEvent
	ne := binary.NativeEndian
	for off := 0; off < len(b); {
		rest := b[off:]
		if len(rest) < nlmsgHdrLen {
			return out, fmt.Errorf("netlink message at byte %d: %d bytes, want a header of %d", off, len(rest), nlmsgHdrLen)
		}
		n := int(ne.Uint32(rest[0:4]))
		typ := ne.Uint16(rest[4:6])
		if n < nlmsgHdrLen || n > len(rest) {
			return out, fmt.Errorf("netlink message at byte %d: length %d, want %d to %d", off, n, nlmsgHdrLen, len(rest))
		}
		payload := rest[nlmsgHdrLen:n]
		switch typ {
		case nlmsgNoop:
		case nlmsgError:
			if len(payload) < 4 {
				return out, fmt.Errorf("netlink message at byte %d: error message of %d bytes, want at least 4", off, len(payload))
			}
			return out, fmt.Errorf("netlink message at byte %d: kernel reports error %d", off, -int32(ne.Uint32(payload[0:4])))
		case nlmsgOverrun:
			return out, fmt.Errorf("netlink message at byte %d: kernel reports data lost (overrun)", off)
		case nlmsgDone:
			ev, ok, err := decodeConnector(payload)
			if err != nil {
				return out, fmt.Errorf("netlink message at byte %d: %w", off, err)
			}
			if ok {
				out = append(out, ev)
			}
		default:
			return out, fmt.Errorf("netlink message at byte %d: type %d, want %d (done) carrying a connector message", off, typ, nlmsgDone)
		}
		// Messages start on 4-byte boundaries (NLMSG_ALIGN).
		off += (n + 3) &^ 3
	}
	return out, nil
}

// decodeConnector decodes a connector message holding a proc_event. It
// reports false for events of kinds this package does not use.
func decodeConnector(b []byte) (procEvent, bool, error) {
	ne := binary.NativeEndian
	var ev procEvent
	if len(b) < cnMsgLen {
		return ev, false, fmt.Errorf("connector message: %d bytes, want a header of %d", len(b), cnMsgLen)
	}
	idx, val := ne.Uint32(b[0:4]), ne.Uint32(b[4:8])
	if idx != cnIdxProc || val != cnValProc {
		return ev, false, fmt.Errorf("connector message: id %d/%d, want %d/%d (process events)", idx, val, cnIdxProc, cnValProc)
	}
	ev.Seq, ev.Ack = ne.Uint32(b[8:12]), ne.Uint32(b[12:16])
	n := int(ne.Uint16(b[16:18]))
	data := b[cnMsgLen:]
	if n > len(data) {
		return ev, false, fmt.Errorf("connector message: data length %d, but %d bytes follow", n, len(data))
	}
	data = data[:n]
	if len(data) < procHdrLen {
		return ev, false, fmt.Errorf("process event: %d bytes, want a header of %d", len(data), procHdrLen)
	}
	ev.What = ne.Uint32(data[0:4])
	ev.Timestamp = ne.Uint64(data[8:16])
	body := data[procHdrLen:]
	switch ev.What {
	case procEventNone:
		if len(body) < 4 {
			return ev, false, fmt.Errorf("acknowledgement: %d bytes, want 4", len(body))
		}
		ev.Err = ne.Uint32(body[0:4])
	case procEventExec:
		if len(body) < 8 {
			return ev, false, fmt.Errorf("exec event: %d bytes, want 8", len(body))
		}
		ev.PID, ev.TGID = int32(ne.Uint32(body[0:4])), int32(ne.Uint32(body[4:8]))
		if ev.TGID <= 0 {
			return ev, false, fmt.Errorf("exec event: process id %d, want > 0", ev.TGID)
		}
	default:
		return ev, false, nil
	}
	return ev, true, nil
}

// mcastMessage is the netlink message that subscribes a socket to
// process events (op procCnMcastListen) or ends the subscription
// (procCnMcastIgnore); the kernel acknowledges it with an event of kind
// none carrying ack+1 (its seq is the kernel's own counter).
func mcastMessage(op, seq, ack uint32) []byte {
	ne := binary.NativeEndian
	b := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	ne.PutUint32(b[0:4], uint32(len(b)))
	ne.PutUint16(b[4:6], nlmsgDone)
	ne.PutUint32(b[8:12], seq)
	c := b[nlmsgHdrLen:]
	ne.PutUint32(c[0:4], cnIdxProc)
	ne.PutUint32(c[4:8], cnValProc)
	ne.PutUint32(c[8:12], seq)
	ne.PutUint32(c[12:16], ack)
	ne.PutUint16(c[16:18], 4)
	ne.PutUint32(c[cnMsgLen:], op)
	return b
}
