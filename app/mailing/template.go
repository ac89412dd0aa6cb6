package mailing

import (
	"errors"
	"io"
	"strings"
	"text/template"
)

// TemplateData is what {{.Name}} and {{.Email}} in a subject or body refer to.
type TemplateData struct {
	Name  string
	Email string
}

// ParseTemplates parses a message's subject and body. They get no functions beyond
// text/template's built-ins (which reach no files, environment or network), and a
// template that fails on sample data is refused here rather than at send time.
func ParseTemplates(subject, body string) (*template.Template, *template.Template, error) {
	s, err := template.New("subject").Option("missingkey=error").Parse(subject)
	if err != nil {
		return nil, nil, err
	}
	b, err := template.New("body").Option("missingkey=error").Parse(body)
	if err != nil {
		return nil, nil, err
	}
	sample := TemplateData{Name: "Ann", Email: "ann@example.com"}
	for _, t := range []*template.Template{s, b} {
		if err := t.Execute(io.Discard, sample); err != nil {
			return nil, nil, err
		}
	}
	var sb strings.Builder
	s.Execute(&sb, sample)
	if strings.ContainsAny(sb.String(), "\r\n") {
		return nil, nil, errors.New("the subject must render to one line")
	}
	return s, b, nil
}
