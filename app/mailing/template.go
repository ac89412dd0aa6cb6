package mailing

import (
	"errors"
	"io"
	"strings"
	"text/template"
	tparse "text/template/parse"
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
		// Loops and sub-templates could make one message cost minutes or gigabytes.
		if len(t.Templates()) > 1 || hasLoop(t.Tree.Root) {
			return nil, nil, errors.New("loops and template definitions are not allowed")
		}
		if err := Render(io.Discard, t, sample); err != nil {
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

func hasLoop(n tparse.Node) bool {
	switch n := n.(type) {
	case *tparse.ListNode:
		if n == nil {
			return false
		}
		for _, c := range n.Nodes {
			if hasLoop(c) {
				return true
			}
		}
	case *tparse.RangeNode, *tparse.TemplateNode:
		return true
	case *tparse.IfNode:
		return hasLoop(n.List) || hasLoop(n.ElseList)
	case *tparse.WithNode:
		return hasLoop(n.List) || hasLoop(n.ElseList)
	}
	return false
}

// MaxRendered bounds one rendered subject or body.
const MaxRendered = 1 << 20

var errTooLong = errors.New("the message renders longer than 1 MiB")

type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n+len(p) > MaxRendered {
		return 0, errTooLong
	}
	l.n += len(p)
	return l.w.Write(p)
}

// Render executes t into w, refusing output past MaxRendered.
func Render(w io.Writer, t *template.Template, data TemplateData) error {
	return t.Execute(&limitWriter{w: w}, data)
}
