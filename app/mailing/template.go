package mailing

import (
	"errors"
	"io"
	"text/template"
	tparse "text/template/parse"
)

// TemplateData is what {{.Name}}, {{.Email}}, {{.UnsubscribeURL}} and, in layouts,
// {{.Sender}} in a subject, body or layout refer to.
type TemplateData struct {
	Name           string
	Email          string
	UnsubscribeURL string
	Sender         string
}

// ParseTemplates parses a plain-text message's subject and body (see Compile).
func ParseTemplates(subject, body string) (*template.Template, *template.Template, error) {
	t, err := Compile(&Message{Subject: subject, Body: body, Format: FormatText}, nil)
	if err != nil {
		return nil, nil, err
	}
	return t.subject, t.text, nil
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
