package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/components"
)

// formError shows a domain error on the form whose state st is: a translated message under
// each field it names and one for the whole form. It returns the status the form is
// answered with, or err itself when it is not an error a form can show.
func (s *Server) formError(c *fiber.Ctx, st *components.FormState, err error) (int, error) {
	var e *mailing.Error
	if !errors.As(err, &e) {
		return 0, err
	}
	st.Errors = map[string]string{}
	for k, v := range e.Fields {
		if args, ok := e.FieldArgs[k]; ok {
			st.Errors[k] = s.t(c, v, args)
		} else {
			st.Errors[k] = s.t(c, v)
		}
	}
	status := fiber.StatusUnprocessableEntity // EINVALID, ECONFLICT, EUNAUTHORIZED, EFORBIDDEN
	switch e.Code {
	case mailing.EINVALID, mailing.ECONFLICT, mailing.EUNAUTHORIZED, mailing.EFORBIDDEN:
	case mailing.ERATELIMIT:
		st.Error = s.t(c, "error.rate_limited")
		return fiber.StatusTooManyRequests, nil
	case mailing.ENOTFOUND:
		status = fiber.StatusNotFound
	default:
		return 0, err
	}
	if len(e.Fields) == 0 || e.Message != "validation.form" {
		st.Error = s.t(c, e.Message)
	}
	return status, nil
}

// renderForm renders the view of a form whose state is st, with err shown on it first
// when not nil (see formError).
func (s *Server) renderForm(c *fiber.Ctx, st *components.FormState, err error, view func() (View, error)) error {
	status := fiber.StatusOK
	if err != nil {
		if status, err = s.formError(c, st, err); err != nil {
			return err
		}
	}
	v, err := view()
	if err != nil {
		return err
	}
	v.Status = status
	return s.render(c, v)
}

// invalidForm wraps per-field translation keys as a validation error.
func invalidForm(fields map[string]string) error {
	return &mailing.Error{Code: mailing.EINVALID, Message: "validation.form", Fields: fields}
}
