// Package transparency is the register of requests for user data — from
// the people themselves (access, deletion) and from authorities (law
// enforcement, government) — with the mandatory legal review every one
// goes through, and the half-yearly transparency report counted from it.
//
// A request moves received → in review → approved or rejected → (approved
// only) fulfilled. Nothing can be recorded as disclosed for a request that
// was not approved. The register holds no personal data: no names, no
// addresses, only a reference the operator gives (a case number).
package transparency

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herdsec/herd"
)

// Type is what a request asks for.
type Type string

// Request types.
const (
	TypeAccess     Type = "access"               // a person asks for a copy of their data
	TypeDeletion   Type = "deletion"             // a person asks for their data to be erased
	TypeDisclosure Type = "authority-disclosure" // an authority asks for data to be disclosed
)

// Types lists the request types in report order.
var Types = []Type{TypeAccess, TypeDeletion, TypeDisclosure}

// Requester is who made a request.
type Requester string

// Requesters.
const (
	RequesterPerson    Requester = "person"
	RequesterAuthority Requester = "authority"
)

// AuthorityKind is the kind of authority behind an authority's request.
type AuthorityKind string

// Authority kinds.
const (
	AuthorityLawEnforcement AuthorityKind = "law-enforcement"
	AuthorityGovernment     AuthorityKind = "government"
	AuthorityOther          AuthorityKind = "other"
)

// State is where a request stands in the legal review.
type State string

// States, in the order a request moves through them.
const (
	StateReceived  State = "received"
	StateInReview  State = "in-review"
	StateApproved  State = "approved"
	StateRejected  State = "rejected"
	StateFulfilled State = "fulfilled"
)

// Limits on the free-text fields (bytes).
const (
	MaxReference = 128
	MaxReasons   = 4096
	MaxDisclosed = 4096
	MaxOperator  = 64
)

// Request is one registered request for user data.
type Request struct {
	ID            string        `json:"id"`
	Type          Type          `json:"type"`
	Requester     Requester     `json:"requester"`
	AuthorityKind AuthorityKind `json:"authority_kind,omitempty"`
	// Country is where the request comes from (ISO 3166-1 alpha-2).
	Country  string    `json:"country"`
	Received time.Time `json:"received"`
	// Reference is the operator's reference to the request (a case or
	// ticket number). It must not be personal data: no names, e-mail
	// addresses or identifiers of the person; the register is kept for
	// years and published as counts.
	Reference string `json:"reference,omitempty"`
	State     State  `json:"state"`
	// Reasons are the privacy officer's reasons for the decision.
	Reasons string `json:"reasons,omitempty"`
	// Disclosed says what was handed out (categories and scope, not the
	// data itself).
	Disclosed string `json:"disclosed,omitempty"`
	History   []Step `json:"history"`
}

// Step is one move of a request, by whom and when.
type Step struct {
	State     State     `json:"state"`
	Operator  string    `json:"operator"`
	Time      time.Time `json:"time"`
	Reasons   string    `json:"reasons,omitempty"`
	Disclosed string    `json:"disclosed,omitempty"`
}

// New is what registering a request takes.
type New struct {
	Type          Type          `json:"type"`
	Requester     Requester     `json:"requester"`
	AuthorityKind AuthorityKind `json:"authority_kind,omitempty"`
	Country       string        `json:"country"`
	// Received is when the request arrived; zero: now.
	Received time.Time `json:"received,omitzero"`
	// Reference: see Request.Reference (never personal data).
	Reference string `json:"reference,omitempty"`
}

// Register checks n and returns the new request, received, with id,
// by operator at now. EINVALID names the field that is wrong.
func Register(n New, id, operator string, now time.Time) (Request, error) {
	if err := checkOperator(operator); err != nil {
		return Request{}, err
	}
	switch n.Type {
	case TypeAccess, TypeDeletion, TypeDisclosure:
	default:
		return Request{}, herd.Errorf(herd.EINVALID, "type %q: want access, deletion or authority-disclosure", n.Type)
	}
	switch n.Requester {
	case RequesterPerson:
		if n.AuthorityKind != "" {
			return Request{}, herd.Errorf(herd.EINVALID, "authority_kind %q: only for requests from an authority", n.AuthorityKind)
		}
		if n.Type == TypeDisclosure {
			return Request{}, herd.Errorf(herd.EINVALID, "type authority-disclosure: only an authority makes it (requester is person)")
		}
	case RequesterAuthority:
		switch n.AuthorityKind {
		case AuthorityLawEnforcement, AuthorityGovernment, AuthorityOther:
		case "":
			return Request{}, herd.Errorf(herd.EINVALID, "authority_kind: missing; want law-enforcement, government or other")
		default:
			return Request{}, herd.Errorf(herd.EINVALID, "authority_kind %q: want law-enforcement, government or other", n.AuthorityKind)
		}
		if n.Type != TypeDisclosure {
			return Request{}, herd.Errorf(herd.EINVALID, "type %s: an authority's request is an authority-disclosure", n.Type)
		}
	default:
		return Request{}, herd.Errorf(herd.EINVALID, "requester %q: want person or authority", n.Requester)
	}
	country, err := ParseCountry(n.Country)
	if err != nil {
		return Request{}, err
	}
	if err := checkText("reference", n.Reference, MaxReference, false); err != nil {
		return Request{}, err
	}
	received := n.Received.UTC()
	if n.Received.IsZero() {
		received = now.UTC()
	}
	if received.After(now.Add(time.Minute)) {
		return Request{}, herd.Errorf(herd.EINVALID, "received %s: in the future", received.Format(time.RFC3339))
	}
	if received.Year() < 2000 {
		return Request{}, herd.Errorf(herd.EINVALID, "received %s: before 2000", received.Format(time.RFC3339))
	}
	return Request{
		ID: id, Type: n.Type, Requester: n.Requester, AuthorityKind: n.AuthorityKind,
		Country: country, Received: received, Reference: n.Reference, State: StateReceived,
		History: []Step{{State: StateReceived, Operator: operator, Time: now.UTC()}},
	}, nil
}

// ParseCountry checks an ISO 3166-1 alpha-2 code (two letters, either
// case) and returns it in capitals.
func ParseCountry(s string) (string, error) {
	if len(s) != 2 || !isLetter(s[0]) || !isLetter(s[1]) {
		return "", herd.Errorf(herd.EINVALID, "country %q: want an ISO 3166-1 alpha-2 code (two letters, e.g. DE)", s)
	}
	return strings.ToUpper(s), nil
}

func isLetter(c byte) bool { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') }

// StartReview moves a received request into review.
// ECONFLICT: the request is not in state received.
func (r Request) StartReview(operator string, now time.Time) (Request, error) {
	if err := checkOperator(operator); err != nil {
		return r, err
	}
	if r.State != StateReceived {
		return r, r.refuse("start its review", StateReceived)
	}
	return r.move(Step{State: StateInReview, Operator: operator, Time: now.UTC()}), nil
}

// Decide approves or rejects a request in review, with the privacy
// officer's reasons (required). ECONFLICT: not in review.
func (r Request) Decide(approve bool, reasons, operator string, now time.Time) (Request, error) {
	if err := checkOperator(operator); err != nil {
		return r, err
	}
	if err := checkText("reasons", reasons, MaxReasons, true); err != nil {
		return r, err
	}
	verb, to := "reject it", StateRejected
	if approve {
		verb, to = "approve it", StateApproved
	}
	if r.State != StateInReview {
		return r, r.refuse(verb, StateInReview)
	}
	r = r.move(Step{State: to, Operator: operator, Time: now.UTC(), Reasons: reasons})
	r.Reasons = reasons
	return r, nil
}

// Fulfil records what was disclosed (or erased) for an approved request.
// ECONFLICT: the request was not approved — nothing may be disclosed
// without the legal review's approval.
func (r Request) Fulfil(disclosed, operator string, now time.Time) (Request, error) {
	if err := checkOperator(operator); err != nil {
		return r, err
	}
	if err := checkText("disclosed", disclosed, MaxDisclosed, true); err != nil {
		return r, err
	}
	if r.State != StateApproved {
		return r, r.refuse("fulfil it", StateApproved)
	}
	r = r.move(Step{State: StateFulfilled, Operator: operator, Time: now.UTC(), Disclosed: disclosed})
	r.Disclosed = disclosed
	return r, nil
}

// move appends a step on a copy of r's history, so that a refused or
// lost update never changes the caller's request.
func (r Request) move(s Step) Request {
	r.History = append(r.History[:len(r.History):len(r.History)], s)
	r.State = s.State
	return r
}

func (r Request) refuse(what string, need State) error {
	hint := ""
	switch r.State {
	case StateReceived:
		hint = "; start its review first"
	case StateInReview:
		hint = "; a privacy officer must approve it first"
	case StateRejected:
		hint = "; it was rejected"
	case StateFulfilled:
		hint = "; it was already fulfilled"
	}
	return herd.Errorf(herd.ECONFLICT, "request %s is %s, not %s: cannot %s%s", r.ID, r.State, need, what, hint)
}

func checkOperator(op string) error {
	if op == "" || len(op) > MaxOperator {
		return herd.Errorf(herd.EINVALID, "operator %q: want a name of 1 to %d bytes", op, MaxOperator)
	}
	return nil
}

// checkText bounds a free-text field and refuses control characters
// other than line breaks and tabs.
func checkText(field, s string, limit int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return herd.Errorf(herd.EINVALID, "%s: missing", field)
	}
	if len(s) > limit {
		return herd.Errorf(herd.EINVALID, "%s: %d bytes, the limit is %d", field, len(s), limit)
	}
	if !utf8.ValidString(s) {
		return herd.Errorf(herd.EINVALID, "%s: not valid UTF-8", field)
	}
	for i, c := range s {
		if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
			return herd.Errorf(herd.EINVALID, "%s: control character %U at byte %d", field, c, i)
		}
	}
	return nil
}

// String names a request for logs: its id, type and state.
func (r Request) String() string {
	return fmt.Sprintf("%s (%s, %s)", r.ID, r.Type, r.State)
}
