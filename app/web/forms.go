package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
)

// formErrors translates a domain validation error into per-field messages and a message for
// the whole form. ok is false when err is not a validation error the form can show.
func (s *Server) formErrors(c *fiber.Ctx, err error) (fields map[string]string, form string, status int, ok bool) {
	var e *mailing.Error
	if !errors.As(err, &e) {
		return nil, "", 0, false
	}
	fields = map[string]string{}
	for k, v := range e.Fields {
		fields[k] = s.t(c, v)
	}
	switch e.Code {
	case mailing.EINVALID, mailing.ECONFLICT:
		status = fiber.StatusUnprocessableEntity
	case mailing.EUNAUTHORIZED, mailing.EFORBIDDEN:
		status = fiber.StatusUnprocessableEntity
	case mailing.ERATELIMIT:
		status = fiber.StatusTooManyRequests
		return fields, s.t(c, "error.rate_limited"), status, true
	case mailing.ENOTFOUND:
		status = fiber.StatusNotFound
	default:
		return nil, "", 0, false
	}
	if len(e.Fields) == 0 || e.Message != "validation.form" {
		form = s.t(c, e.Message)
	}
	return fields, form, status, true
}

// invalidForm wraps per-field translation keys as a validation error.
func invalidForm(fields map[string]string) error {
	return &mailing.Error{Code: mailing.EINVALID, Message: "validation.form", Fields: fields}
}

func asError(err error, target **mailing.Error) bool { return errors.As(err, target) }
