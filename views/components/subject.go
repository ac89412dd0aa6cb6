package components

import (
	"regexp"
	"strings"
)

// A subject is a template: "News for {{.Name}}". Where it stands as a title or a label, its
// placeholders show as chips ("Name") instead of template syntax.

// SubjectPart is a run of literal text, or a placeholder with the name it shows.
type SubjectPart struct {
	Text        string
	Placeholder bool
}

var action = regexp.MustCompile(`\{\{-?\s*(.*?)\s*-?\}\}`)
var field = regexp.MustCompile(`^\.([A-Za-z_][A-Za-z0-9_.]*)$`)

// SubjectParts splits a subject template into text and placeholders. A placeholder that is
// a field ({{.Name}}) shows as its name; any other action shows as written inside its
// braces.
func SubjectParts(s string) []SubjectPart {
	var parts []SubjectPart
	last := 0
	for _, m := range action.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			parts = append(parts, SubjectPart{Text: s[last:m[0]]})
		}
		inner := s[m[2]:m[3]]
		if f := field.FindStringSubmatch(inner); f != nil {
			inner = f[1]
		}
		parts = append(parts, SubjectPart{Text: inner, Placeholder: true})
		last = m[1]
	}
	if last < len(s) {
		parts = append(parts, SubjectPart{Text: s[last:]})
	}
	return parts
}

// SubjectText is a subject as plain text (a page's <title>): placeholders in angle quotes.
func SubjectText(s string) string {
	var b strings.Builder
	for _, p := range SubjectParts(s) {
		if p.Placeholder {
			b.WriteString("‹" + p.Text + "›")
		} else {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}
