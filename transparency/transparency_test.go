package transparency

import (
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
)

var t0 = time.Date(2026, 9, 1, 10, 0, 0, 0, time.UTC)

func mustRegister(t *testing.T, n New) Request {
	t.Helper()
	r, err := Register(n, "tr-0000000000000001", "pia", t0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var access = New{Type: TypeAccess, Requester: RequesterPerson, Country: "de", Reference: "case 17"}

// inState walks a new request to state s along the allowed moves.
func inState(t *testing.T, s State) Request {
	t.Helper()
	r := mustRegister(t, access)
	steps := map[State][]func(Request) (Request, error){
		StateReceived:  nil,
		StateInReview:  {review},
		StateApproved:  {review, approve},
		StateRejected:  {review, reject},
		StateFulfilled: {review, approve, fulfil},
	}[s]
	for _, f := range steps {
		var err error
		if r, err = f(r); err != nil {
			t.Fatal(err)
		}
	}
	if r.State != s {
		t.Fatalf("state %s, want %s", r.State, s)
	}
	return r
}

func review(r Request) (Request, error) { return r.StartReview("pia", t0.Add(time.Hour)) }
func approve(r Request) (Request, error) {
	return r.Decide(true, "court order 12/26 checked", "pia", t0.Add(2*time.Hour))
}
func reject(r Request) (Request, error) {
	return r.Decide(false, "no legal basis", "pia", t0.Add(2*time.Hour))
}
func fulfil(r Request) (Request, error) {
	return r.Fulfil("licence record, no telemetry", "pia", t0.Add(3*time.Hour))
}

// TestTransitions tries every move from every state: only the review's
// order is allowed, every other move is refused with ECONFLICT naming the
// state, and a refused move leaves the request as it was.
func TestTransitions(t *testing.T) {
	moves := map[string]func(Request) (Request, error){"review": review, "approve": approve, "reject": reject, "fulfil": fulfil}
	allowed := map[State]map[string]State{
		StateReceived:  {"review": StateInReview},
		StateInReview:  {"approve": StateApproved, "reject": StateRejected},
		StateApproved:  {"fulfil": StateFulfilled},
		StateRejected:  {},
		StateFulfilled: {},
	}
	for from, ok := range allowed {
		for name, move := range moves {
			r := inState(t, from)
			hist := len(r.History)
			got, err := move(r)
			if want, legal := ok[name]; legal {
				if err != nil || got.State != want || len(got.History) != hist+1 || got.History[hist].State != want || got.History[hist].Operator != "pia" {
					t.Errorf("%s from %s: %+v %v, want state %s with one more step", name, from, got.State, err, want)
				}
				continue
			}
			if herd.ErrorCode(err) != herd.ECONFLICT || !strings.Contains(err.Error(), "is "+string(from)) {
				t.Errorf("%s from %s: err = %v, want conflict naming the state", name, from, err)
			}
			if got.State != from || len(got.History) != hist {
				t.Errorf("%s from %s: a refused move changed the request: %+v", name, from, got)
			}
		}
	}
}

// TestFulfilBeforeApproval: nothing is disclosed without approval.
func TestFulfilBeforeApproval(t *testing.T) {
	for _, s := range []State{StateReceived, StateInReview, StateRejected} {
		_, err := fulfil(inState(t, s))
		if herd.ErrorCode(err) != herd.ECONFLICT || !strings.Contains(err.Error(), "cannot fulfil") {
			t.Errorf("fulfil from %s: err = %v, want conflict", s, err)
		}
	}
	r := inState(t, StateFulfilled)
	if r.Disclosed != "licence record, no telemetry" || r.Reasons != "court order 12/26 checked" || len(r.History) != 4 {
		t.Fatalf("fulfilled request: %+v", r)
	}
}

func TestMovesNeedText(t *testing.T) {
	r := inState(t, StateInReview)
	if _, err := r.Decide(true, "  ", "pia", t0); herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), "reasons: missing") {
		t.Errorf("approve without reasons: %v", err)
	}
	if _, err := r.Decide(true, strings.Repeat("x", MaxReasons+1), "pia", t0); herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), "reasons") {
		t.Errorf("approve with long reasons: %v", err)
	}
	if _, err := r.Decide(true, "ok", "", t0); herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), "operator") {
		t.Errorf("approve without operator: %v", err)
	}
	a := inState(t, StateApproved)
	if _, err := a.Fulfil("", "pia", t0); herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), "disclosed: missing") {
		t.Errorf("fulfil without disclosed: %v", err)
	}
}

func TestRegisterRefuses(t *testing.T) {
	cases := []struct {
		n    New
		want string
	}{
		{New{Type: "spy", Requester: RequesterPerson, Country: "DE"}, `type "spy"`},
		{New{Type: TypeAccess, Requester: "robot", Country: "DE"}, `requester "robot"`},
		{New{Type: TypeAccess, Requester: RequesterPerson, Country: "DEU"}, `country "DEU"`},
		{New{Type: TypeAccess, Requester: RequesterPerson, Country: "D1"}, `country "D1"`},
		{New{Type: TypeAccess, Requester: RequesterPerson, AuthorityKind: AuthorityGovernment, Country: "DE"}, "authority_kind"},
		{New{Type: TypeDisclosure, Requester: RequesterPerson, Country: "DE"}, "only an authority"},
		{New{Type: TypeDisclosure, Requester: RequesterAuthority, Country: "DE"}, "authority_kind: missing"},
		{New{Type: TypeDisclosure, Requester: RequesterAuthority, AuthorityKind: "army", Country: "DE"}, `authority_kind "army"`},
		{New{Type: TypeAccess, Requester: RequesterAuthority, AuthorityKind: AuthorityGovernment, Country: "DE"}, "authority-disclosure"},
		{New{Type: TypeAccess, Requester: RequesterPerson, Country: "DE", Reference: strings.Repeat("r", MaxReference+1)}, "reference: 129 bytes"},
		{New{Type: TypeAccess, Requester: RequesterPerson, Country: "DE", Reference: "a\x00b"}, "reference: control character"},
		{New{Type: TypeAccess, Requester: RequesterPerson, Country: "DE", Received: t0.Add(48 * time.Hour)}, "in the future"},
		{New{Type: TypeAccess, Requester: RequesterPerson, Country: "DE", Received: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)}, "before 2000"},
	}
	for _, c := range cases {
		_, err := Register(c.n, "tr-1", "pia", t0)
		if herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want invalid naming %q", c.n, err, c.want)
		}
	}
	r := mustRegister(t, New{Type: TypeDisclosure, Requester: RequesterAuthority, AuthorityKind: AuthorityLawEnforcement, Country: "fr"})
	if r.Country != "FR" || r.State != StateReceived || !r.Received.Equal(t0) || len(r.History) != 1 || r.History[0].Operator != "pia" {
		t.Fatalf("registered: %+v", r)
	}
}

// TestMoveDoesNotAlias: two moves from one read do not share history.
func TestMoveDoesNotAlias(t *testing.T) {
	r := inState(t, StateInReview)
	r.History = append(make([]Step, 0, 10), r.History...)
	a, err := approve(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := reject(r)
	if err != nil {
		t.Fatal(err)
	}
	if a.History[2].State != StateApproved || b.History[2].State != StateRejected {
		t.Fatalf("histories share an array: %v / %v", a.History[2].State, b.History[2].State)
	}
}
