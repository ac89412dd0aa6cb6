package mailing

import (
	_ "embed"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// Layout is the HTML a Markdown or HTML message is set in: a user's own design around
// one {{.Content}}, where the message goes.
type Layout struct {
	ID        int64 `bun:",pk,autoincrement"`
	OwnerID   int64
	Name      string
	NameLC    string `bun:"name_lc"`
	HTML      string `bun:"html"`
	CreatedAt time.Time
	UpdatedAt time.Time

	OwnerEmail string `bun:",scanonly"`
}

// DefaultLayoutHTML is the layout every user starts from: table-based, 600 px wide,
// readable on phones, with the sender's name above and the unsubscribe link below.
//
//go:embed layouts/default.html
var DefaultLayoutHTML string

// DefaultLayoutName is the name the default layout is saved under for a user.
const DefaultLayoutName = "Default"

var contentAction = regexp.MustCompile(`\{\{-?\s*\.Content\s*-?\}\}`)

// Validate normalises l and returns field → translation key for every broken rule; the
// HTML must hold {{.Content}} exactly once and compile as a template.
func (l *Layout) Validate() map[string]string {
	errs := map[string]string{}
	l.Name = strings.TrimSpace(l.Name)
	switch {
	case strings.ContainsRune(l.Name, 0):
		errs["name"] = "validation.nul"
	case l.Name == "":
		errs["name"] = "validation.required"
	case strings.ContainsAny(l.Name, "\r\n"):
		errs["name"] = "validation.one_line"
	case len([]rune(l.Name)) > 100:
		errs["name"] = "validation.too_long"
	}
	l.NameLC = strings.ToLower(l.Name)
	switch {
	case strings.ContainsRune(l.HTML, 0):
		errs["html"] = "validation.nul"
	case len(l.HTML) > MaxBody:
		errs["html"] = "validation.too_long"
	case len(contentAction.FindAllString(l.HTML, -1)) != 1:
		errs["html"] = "layouts.content_once"
	}
	if len(errs) == 0 {
		probe := &Message{Subject: "s", Body: "<p>x</p>", Format: FormatHTML}
		if _, err := Compile(probe, l); err != nil {
			errs["html"] = "validation.template"
		}
	}
	return errs
}

// ErrLayoutInUse refuses to delete a layout that messages are set in.
var ErrLayoutInUse = &Error{Code: ECONFLICT, Message: "layouts.in_use"}

// wrap sets content where the layout says.
func (l *Layout) wrap(content string) string {
	return contentAction.ReplaceAllLiteralString(l.HTML, content)
}

// SenderName is what layouts show as the sender ({{.Sender}}): the From address's display
// name, else the address.
func SenderName(from string) string {
	a, err := mail.ParseAddress(from)
	switch {
	case err != nil:
		return from
	case a.Name != "":
		return a.Name
	}
	return a.Address
}
