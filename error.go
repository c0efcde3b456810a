package herd

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to a status; users see the message.
const (
	EINVALID      = "invalid"      // the input does not parse or breaks a limit
	ENOTFOUND     = "not_found"    // the thing asked for does not exist
	ECONFLICT     = "conflict"     // the request conflicts with current state
	EUNAUTHORIZED = "unauthorized" // missing or wrong credentials
	EFORBIDDEN    = "forbidden"    // the credentials do not allow this
	ETOOLARGE     = "too_large"    // a body or batch over its limit
	EUNAVAILABLE  = "unavailable"  // a dependency (storage, cloud) cannot be reached now
	EINTERNAL     = "internal"     // a bug or an unexpected failure; details are logged, not shown
	ECONSENT      = "consent"      // the person's consent does not allow it
)

// Problem names one bad item of a batch: which item, which field, what is wrong.
type Problem struct {
	Index   int    `json:"index"`
	Field   string `json:"field,omitempty"`
	Code    string `json:"code,omitempty"` // for per-event results: consent, invalid, undeclared
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Field == "" {
		return fmt.Sprintf("item %d: %s", p.Index, p.Message)
	}
	return fmt.Sprintf("item %d: field %q: %s", p.Index, p.Field, p.Message)
}

// Error is Herd's application error: a code for programs, a message for people,
// and for batches the list of offending items.
type Error struct {
	Code     string
	Message  string
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return e.Message
	}
	msg := e.Message + ": " + e.Problems[0].String()
	if n := len(e.Problems) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: its whole text if
// its chain holds an *Error (whose wrappers add context such as "after 20
// imported"), or a generic text for internal errors, whose details must not
// leak to remote callers.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return err.Error()
	}
	return "internal error"
}

// ErrorProblems returns the per-item problems of err, if any.
func ErrorProblems(err error) []Problem {
	var e *Error
	if errors.As(err, &e) {
		return e.Problems
	}
	return nil
}
