package mailing

import (
	"errors"
	"fmt"
)

// Error codes shared by every layer; the web layer maps them to HTTP statuses in one place.
const (
	ENOTFOUND     = "not_found"    // the object does not exist or is not the caller's
	EFORBIDDEN    = "forbidden"    // the caller may see the object but not do this
	EINVALID      = "invalid"      // the input breaks a rule; Fields says which
	ECONFLICT     = "conflict"     // the input collides with existing data
	EUNAUTHORIZED = "unauthorized" // the caller must sign in
	ERATELIMIT    = "rate_limited" // too many attempts
	EINTERNAL     = "internal"     // anything else; never shown in detail
)

// Error is a domain error with a code the caller can act on and a message key safe to show.
type Error struct {
	Code    string
	Message string            // a translation key, or plain text for operators
	Fields  map[string]string // field name → translation key, for forms
	// FieldArgs fill the placeholders of a field's message (a template error's line).
	FieldArgs map[string]map[string]any
}

func (e *Error) Error() string {
	if len(e.Fields) > 0 {
		return fmt.Sprintf("mailing error: code=%s message=%s fields=%v", e.Code, e.Message, e.Fields)
	}
	return fmt.Sprintf("mailing error: code=%s message=%s", e.Code, e.Message)
}

// Errorf builds an *Error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an *Error in err's chain, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}
