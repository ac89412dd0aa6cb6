package mailing

import (
	"bytes"
	"errors"
	"fmt"
	htemplate "html/template"
	"io"
	"regexp"
	"strconv"
	"strings"
	ttemplate "text/template"

	"github.com/vanng822/go-premailer/premailer"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	ghtml "github.com/yuin/goldmark/renderer/html"
)

// Formats of a message body: the body holds the source in that format.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
	FormatHTML     = "html"
)

// Formats in the order forms offer them.
var Formats = []string{FormatText, FormatMarkdown, FormatHTML}

// HTMLClipSize is where Gmail clips a message's HTML ("[Message clipped]"): a message
// past it gets a warning, not an error.
const HTMLClipSize = 102 << 10

// Rendered is what one recipient gets: the subject, the plain text and, for a Markdown or
// HTML message, the HTML part.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}

// Template is a message compiled for sending: parsed once — per run, not per recipient —
// and executed for each recipient. The HTML part is an html/template, so a recipient's
// name is escaped for where it stands (text, attribute, URL); the text part is generated
// from the same HTML at compile time, not per recipient.
type Template struct {
	subject *ttemplate.Template
	text    *ttemplate.Template
	html    *htemplate.Template // nil for a plain-text message
}

// TemplateError is a template that does not compile; Line is the line of the body it
// names (0 when it names none).
type TemplateError struct {
	Field string // subject, body, text_body or html (the layout)
	Line  int
	Err   error
}

func (e *TemplateError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %v", e.Field, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Field, e.Err)
}

func (e *TemplateError) Unwrap() error { return e.Err }

// templateLine finds the line in a text/template or html/template error ("template:
// body:3: …", "html/template:body:3:14: …") and strips the template's name from it.
var templateLine = regexp.MustCompile(`^(?:html/)?template: ?\w+:(\d+):(?:\d+:)? ?`)

// startedAt is where an unclosed action began, which the error names after the line it
// noticed it on (the end).
var startedAt = regexp.MustCompile(`started at \w+:(\d+)`)

func templateErr(field string, err error) error {
	if err == nil {
		return nil
	}
	te := &TemplateError{Field: field, Err: err}
	if m := templateLine.FindStringSubmatchIndex(err.Error()); m != nil {
		te.Line, _ = strconv.Atoi(err.Error()[m[2]:m[3]])
		te.Err = errors.New(err.Error()[m[1]:])
		if s := startedAt.FindStringSubmatch(te.Err.Error()); s != nil {
			te.Line, _ = strconv.Atoi(s[1])
		}
	}
	return te
}

// sampleData is what templates are tried with before they are accepted.
var sampleData = TemplateData{Name: "Ann", Email: "ann@example.com", UnsubscribeURL: "https://example.com/unsubscribe/1.x", Sender: "Mailer"}

// Compile checks a message — with its layout, when it has one — and compiles it for
// sending. Templates get no functions beyond Go's built-ins (which reach no files,
// environment or network), no loops and no sub-templates; one that fails on sample data is
// refused here rather than at send time.
func Compile(m *Message, layout *Layout) (*Template, error) {
	var t Template
	var err error
	if t.subject, err = parseText("subject", m.Subject); err != nil {
		return nil, err
	}
	// The source is parsed as it was typed first, so an error names the line the sender
	// wrote, not a line of the HTML Markdown became.
	body, err := parseText("body", m.Body)
	if err != nil {
		return nil, err
	}
	if err := Render(io.Discard, body, sampleData); err != nil {
		return nil, templateErr("body", err)
	}
	if m.Format == FormatText || m.Format == "" {
		t.text = body
	} else {
		src := m.Body
		if m.Format == FormatMarkdown {
			if src, err = markdownHTML(src); err != nil {
				return nil, &TemplateError{Field: "body", Err: err}
			}
		}
		field := "body"
		if layout != nil {
			src, field = layout.wrap(src), "html"
		} else if !strings.Contains(strings.ToLower(src), "<html") {
			src = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n" + src + "\n</body></html>\n"
		}
		src = withFooter(src)
		if strings.Contains(strings.ToLower(src), "<style") {
			if src, err = inlineCSS(src); err != nil {
				return nil, &TemplateError{Field: field, Err: err}
			}
		}
		if t.html, err = parseHTML(field, src); err != nil {
			return nil, err
		}
		if m.TextBody == "" {
			if t.text, err = parseText("body", htmlTextTemplate(src)); err != nil {
				return nil, err
			}
		}
	}
	if m.TextBody != "" {
		if t.text, err = parseText("text_body", m.TextBody); err != nil {
			return nil, err
		}
	}
	r, err := t.Render(sampleData)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(r.Subject, "\r\n") {
		return nil, &TemplateError{Field: "subject", Err: errors.New("the subject must render to one line")}
	}
	return &t, nil
}

// Render is the mail one recipient gets.
func (t *Template) Render(d TemplateData) (Rendered, error) {
	var r Rendered
	var b strings.Builder
	if err := Render(&b, t.subject, d); err != nil {
		return r, templateErr("subject", err)
	}
	r.Subject = b.String()
	b.Reset()
	if err := Render(&b, t.text, d); err != nil {
		return r, templateErr("body", err)
	}
	r.Text = b.String()
	if t.html != nil {
		var hb bytes.Buffer
		if err := t.html.Execute(&limitWriter{w: &hb}, d); err != nil {
			return r, templateErr("body", err)
		}
		r.HTML = hb.String()
	}
	return r, nil
}

// HasHTML reports whether the message has an HTML part.
func (t *Template) HasHTML() bool { return t.html != nil }

func parseText(field, src string) (*ttemplate.Template, error) {
	t, err := ttemplate.New(field).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, templateErr(field, err)
	}
	if len(t.Templates()) > 1 || hasLoop(t.Tree.Root) {
		return nil, &TemplateError{Field: field, Err: errors.New("loops and template definitions are not allowed")}
	}
	return t, nil
}

func parseHTML(field, src string) (*htemplate.Template, error) {
	t, err := htemplate.New(field).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, templateErr(field, err)
	}
	if len(t.Templates()) > 1 || hasLoop(t.Tree.Root) {
		return nil, &TemplateError{Field: field, Err: errors.New("loops and template definitions are not allowed")}
	}
	// html/template finds contexts it cannot escape in at the first execution.
	if err := t.Execute(io.Discard, TemplateData{}); err != nil {
		var herr *htemplate.Error
		if errors.As(err, &herr) {
			return nil, templateErr(field, err)
		}
	}
	return t, nil
}

// Template actions are set aside while Markdown is rendered, CSS inlined or HTML turned
// into text — those would escape or reflow them — and put back afterwards: the actions
// then stand where the sender wrote them, and html/template escapes each for its place.
var action = regexp.MustCompile(`\{\{.*?\}\}`)

type protected struct {
	actions []string
}

func (p *protected) hide(src string) string {
	return action.ReplaceAllStringFunc(src, func(a string) string {
		p.actions = append(p.actions, a)
		return "mlrph" + strconv.Itoa(len(p.actions)-1) + "x"
	})
}

var placeholder = regexp.MustCompile(`mlrph(\d+)x`)

func (p *protected) restore(src string) string {
	return placeholder.ReplaceAllStringFunc(src, func(s string) string {
		i, err := strconv.Atoi(s[5 : len(s)-1])
		if err != nil || i >= len(p.actions) {
			return s
		}
		return p.actions[i]
	})
}

var markdown = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	// The sender's own HTML inside Markdown is theirs to send, as in the HTML format.
	goldmark.WithRendererOptions(ghtml.WithUnsafe()),
)

func markdownHTML(src string) (string, error) {
	var p protected
	var b bytes.Buffer
	if err := markdown.Convert([]byte(p.hide(src)), &b); err != nil {
		return "", err
	}
	return p.restore(b.String()), nil
}

func inlineCSS(src string) (string, error) {
	var p protected
	pm, err := premailer.NewPremailerFromString(p.hide(src), premailer.NewOptions())
	if err != nil {
		return "", err
	}
	out, err := pm.Transform()
	if err != nil {
		return "", err
	}
	return p.restore(out), nil
}

func htmlTextTemplate(src string) string {
	var p protected
	return p.restore(HTMLToText(p.hide(src)))
}

// unsubscribeAction is how a layout or body links to the recipient's unsubscribe page.
var unsubscribeAction = regexp.MustCompile(`\{\{-?\s*\.UnsubscribeURL\s*-?\}\}`)

// footer is the standard unsubscribe footer, added to HTML that has no unsubscribe link of
// its own. A test send or a mail without a recipient's link leaves it out.
const footer = `{{if .UnsubscribeURL}}<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr>` +
	`<td align="center" style="padding:16px;font-family:Arial,sans-serif;font-size:12px;color:#6b6b6b">` +
	`<a href="{{.UnsubscribeURL}}" style="color:#6b6b6b">Unsubscribe</a></td></tr></table>{{end}}`

func withFooter(src string) string {
	if unsubscribeAction.MatchString(src) {
		return src
	}
	if i := strings.LastIndex(strings.ToLower(src), "</body>"); i >= 0 {
		return src[:i] + footer + "\n" + src[i:]
	}
	return src + "\n" + footer
}
