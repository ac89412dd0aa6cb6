// Package i18n translates every user-facing string. Catalogues are flat JSON files embedded
// in the binary, one per language; a test keeps them complete and in step with the code.
package i18n

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"golang.org/x/text/language"
)

// Catalogues are split by area (locales/<lang>/<area>.json) so each part of the UI keeps
// its strings together; a key may appear in one file of a language only.
//
//go:embed locales
var locales embed.FS

// readCatalogue merges every file of one language.
func readCatalogue(lang string) (map[string]string, error) {
	files, err := fs.Glob(locales, "locales/"+lang+"/*.json")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("catalogue %s: no files", lang)
	}
	all := map[string]string{}
	for _, f := range files {
		b, err := locales.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for k, v := range m {
			if _, dup := all[k]; dup {
				return nil, fmt.Errorf("%s: key %s is defined in another file too", f, k)
			}
			all[k] = v
		}
	}
	return all, nil
}

// Catalog holds every language's messages.
type Catalog struct {
	langs    []string
	messages map[string]map[string]*template.Template
	simple   map[string]map[string]simpleMessage
	raw      map[string]map[string]string
	matcher  language.Matcher
}

// Load parses the embedded catalogues for langs; the first language is the fallback.
func Load(langs []string) (*Catalog, error) {
	c := &Catalog{langs: langs, messages: map[string]map[string]*template.Template{},
		simple: map[string]map[string]simpleMessage{}, raw: map[string]map[string]string{}}
	tags := make([]language.Tag, len(langs))
	for i, lang := range langs {
		tags[i] = language.MustParse(lang)
		m, err := readCatalogue(lang)
		if err != nil {
			return nil, err
		}
		c.raw[lang] = m
		c.messages[lang] = make(map[string]*template.Template, len(m))
		c.simple[lang] = map[string]simpleMessage{}
		for id, text := range m {
			if !strings.Contains(text, "{{") {
				continue
			}
			t, err := template.New(id).Option("missingkey=error").Parse(text)
			if err != nil {
				return nil, fmt.Errorf("catalogue %s, key %s: %w", lang, id, err)
			}
			c.messages[lang][id] = t
			if sm, ok := parseSimple(text); ok {
				c.simple[lang][id] = sm
			}
		}
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// Keys returns the sorted message ids of one language.
func (c *Catalog) Keys(lang string) []string {
	keys := make([]string, 0, len(c.raw[lang]))
	for k := range c.raw[lang] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Has reports whether lang has a message id.
func (c *Catalog) Has(lang, id string) bool { _, ok := c.raw[lang][id]; return ok }

// Supported reports whether lang has a catalogue.
func (c *Catalog) Supported(lang string) bool { _, ok := c.raw[lang]; return ok }

// Negotiate picks the language: a remembered choice, then Accept-Language, then the default.
func (c *Catalog) Negotiate(chosen, acceptLanguage, def string) string {
	if c.Supported(chosen) {
		return chosen
	}
	if acceptLanguage != "" {
		if tags, _, err := language.ParseAcceptLanguage(acceptLanguage); err == nil && len(tags) > 0 {
			_, idx, conf := c.matcher.Match(tags...)
			if conf != language.No {
				return c.langs[idx]
			}
		}
	}
	if c.Supported(def) {
		return def
	}
	return c.langs[0]
}

// Translate renders message id in lang with optional data (a map or struct for {{.Field}}).
// A missing id renders as the id itself so a gap is visible, never a blank.
func (c *Catalog) Translate(lang, id string, data any) string {
	text, ok := c.raw[lang][id]
	if !ok {
		lang = c.langs[0]
		if text, ok = c.raw[lang][id]; !ok {
			return id
		}
	}
	t := c.messages[lang][id]
	if t == nil {
		return text
	}
	if m, ok := data.(map[string]any); ok {
		if sm, ok := c.simple[lang][id]; ok {
			if out, ok := sm.render(text, m); ok {
				return out
			}
		}
	}
	var sb strings.Builder
	if err := t.Execute(&sb, data); err != nil {
		return text
	}
	return sb.String()
}

// simpleMessage is a message whose only actions are {{.Field}}. It is rendered by
// substitution, as its template would render it, at a fraction of the cost: a list page
// translates a message with data on every row.
type simpleMessage struct {
	literals []string // one more than fields: literal, field, literal, …, literal
	fields   []string
}

var fieldAction = regexp.MustCompile(`\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

func parseSimple(text string) (simpleMessage, bool) {
	var sm simpleMessage
	last := 0
	for _, m := range fieldAction.FindAllStringSubmatchIndex(text, -1) {
		sm.literals = append(sm.literals, text[last:m[0]])
		sm.fields = append(sm.fields, text[m[2]:m[3]])
		last = m[1]
	}
	sm.literals = append(sm.literals, text[last:])
	for _, l := range sm.literals {
		if strings.Contains(l, "{{") || strings.Contains(l, "}}") {
			return simpleMessage{}, false
		}
	}
	return sm, true
}

// render substitutes data's fields; a missing field gives text unrendered, as the
// template's missingkey=error does in Translate. Values other than strings and integers
// are left to the template (it prints some types its own way); ok is false then.
func (sm simpleMessage) render(text string, data map[string]any) (out string, ok bool) {
	var b strings.Builder
	for i, f := range sm.fields {
		v, found := data[f]
		if !found {
			return text, true
		}
		b.WriteString(sm.literals[i])
		switch v := v.(type) {
		case string:
			b.WriteString(v)
		case int:
			b.WriteString(strconv.Itoa(v))
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		default:
			return "", false
		}
	}
	b.WriteString(sm.literals[len(sm.fields)])
	return b.String(), true
}

// Localizer is a catalogue bound to one language.
type Localizer struct {
	Lang    string
	catalog *Catalog
}

// For binds the catalogue to lang.
func (c *Catalog) For(lang string) *Localizer { return &Localizer{Lang: lang, catalog: c} }

// T translates id; data is optional.
func (l *Localizer) T(id string, data ...any) string {
	var d any
	if len(data) > 0 {
		d = data[0]
	}
	return l.catalog.Translate(l.Lang, id, d)
}

type ctxKey struct{}

// WithLocalizer stores l in ctx for views.
func WithLocalizer(ctx context.Context, l *Localizer) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the request's localizer, or nil.
func FromContext(ctx context.Context) *Localizer {
	l, _ := ctx.Value(ctxKey{}).(*Localizer)
	return l
}

// T translates id with the localizer in ctx. Views call it as i18n.T(ctx, "key").
func T(ctx context.Context, id string, data ...any) string {
	if l := FromContext(ctx); l != nil {
		return l.T(id, data...)
	}
	return id
}
