package mailing

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// Message is what a mailing sends: a one-line subject and a body in one of Formats. Both
// may use {{.Name}}, {{.Email}} and {{.UnsubscribeURL}}. A Markdown or HTML message goes
// out with an HTML part, set in its layout when it has one, and a plain-text part made
// from it unless TextBody gives one.
type Message struct {
	ID        int64 `bun:",pk,autoincrement"`
	OwnerID   int64
	Subject   string
	SubjectLC string `bun:"subject_lc"`
	Format    string
	Body      string
	TextBody  string
	LayoutID  *int64
	CreatedAt time.Time
	UpdatedAt time.Time

	OwnerEmail string `bun:",scanonly"`
}

// Validate checks m's rules. A CR or LF in the subject is an error, never silently removed:
// it would otherwise be a way to inject mail headers.
func (m *Message) Validate() map[string]string {
	errs := map[string]string{}
	if m.Format == "" {
		m.Format = FormatText
	}
	if !slices.Contains(Formats, m.Format) {
		errs["format"] = "validation.format"
	}
	if m.Format == FormatText {
		m.TextBody, m.LayoutID = "", nil // a plain-text message is its own text part
	}
	for field, v := range map[string]string{"subject": m.Subject, "body": m.Body, "text_body": m.TextBody} {
		if strings.ContainsRune(v, 0) {
			errs[field] = "validation.nul"
		}
	}
	switch {
	case strings.ContainsAny(m.Subject, "\r\n"):
		errs["subject"] = "validation.one_line"
	case errs["subject"] != "":
	case strings.TrimSpace(m.Subject) == "":
		m.Subject = ""
		errs["subject"] = "validation.required"
	case len([]rune(strings.TrimSpace(m.Subject))) > 250:
		m.Subject = strings.TrimSpace(m.Subject)
		errs["subject"] = "validation.too_long"
	default:
		m.Subject = strings.TrimSpace(m.Subject)
	}
	switch {
	case errs["body"] != "":
	case strings.TrimSpace(m.Body) == "":
		errs["body"] = "validation.required"
	case len(m.Body) > MaxBody:
		errs["body"] = "validation.too_long"
	}
	if len(m.TextBody) > MaxBody && errs["text_body"] == "" {
		errs["text_body"] = "validation.too_long"
	}
	if len(errs) == 0 {
		if _, err := Compile(m, nil); err != nil {
			field := "body"
			var te *TemplateError
			if errors.As(err, &te) && (te.Field == "subject" || te.Field == "text_body") {
				field = te.Field
			}
			errs[field] = "validation.template"
		}
	}
	m.SubjectLC = strings.ToLower(m.Subject)
	return errs
}

// Check is Validate as an error a form shows: a template error names its line.
func (m *Message) Check() error {
	errs := m.Validate()
	if len(errs) == 0 {
		return nil
	}
	e := &Error{Code: EINVALID, Message: "validation.form", Fields: errs}
	for field, key := range errs {
		if key != "validation.template" {
			continue
		}
		_, err := Compile(m, nil)
		var detail *Error
		if errors.As(InvalidTemplate(err, field), &detail) {
			delete(e.Fields, field)
			for f, k := range detail.Fields {
				e.Fields[f] = k
			}
			e.FieldArgs = detail.FieldArgs
		}
		break
	}
	return e
}

// MaxBody bounds a message's body, its text part and a layout.
const MaxBody = 512 << 10

// InvalidTemplate is the form error for a template that does not compile: on its field
// (field when the error names none of the form's), naming the line and what is wrong.
func InvalidTemplate(err error, field string) error {
	var te *TemplateError
	if !errors.As(err, &te) {
		return err
	}
	if te.Field == "subject" || te.Field == "text_body" || te.Field == "body" {
		field = te.Field
	}
	key := "validation.template_detail"
	if te.Line > 0 {
		key = "validation.template_line"
	}
	return &Error{Code: EINVALID, Message: "validation.form", Fields: map[string]string{field: key},
		FieldArgs: map[string]map[string]any{field: {"Line": te.Line, "Detail": te.Err.Error()}}}
}

// ErrMessageInUse refuses to delete a message that mailings still send.
var ErrMessageInUse = &Error{Code: ECONFLICT, Message: "messages.in_use"}
