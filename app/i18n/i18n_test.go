package i18n

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"text/template/parse"
)

var langs = []string{"en", "ru"}

func load(t *testing.T) *Catalog {
	t.Helper()
	c, err := Load(langs)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// rawCatalogue reads one embedded catalogue file as it is stored.
func rawCatalogue(t *testing.T, lang string) map[string]string {
	t.Helper()
	m, err := readCatalogue(lang)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func missing(from, in map[string]string) []string {
	var out []string
	for k := range from {
		if _, ok := in[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func TestCataloguesHaveTheSameKeys(t *testing.T) {
	base := rawCatalogue(t, langs[0])
	if len(base) == 0 {
		t.Fatalf("%s catalogue is empty", langs[0])
	}
	for _, lang := range langs[1:] {
		other := rawCatalogue(t, lang)
		if m := missing(base, other); len(m) > 0 {
			t.Errorf("%s.json lacks keys present in %s.json: %s", lang, langs[0], strings.Join(m, ", "))
		}
		if m := missing(other, base); len(m) > 0 {
			t.Errorf("%s.json lacks keys present in %s.json: %s", langs[0], lang, strings.Join(m, ", "))
		}
	}
	c := load(t)
	if got, want := len(c.Keys("en")), len(base); got != want {
		t.Errorf("Keys(en) has %d ids, catalogue file has %d", got, want)
	}
}

func TestCataloguesHaveNoEmptyMessages(t *testing.T) {
	for _, lang := range langs {
		for id, text := range rawCatalogue(t, lang) {
			if strings.TrimSpace(text) == "" {
				t.Errorf("%s.json: %s is empty", lang, id)
			}
		}
	}
}

// placeholders returns the {{.Field}} references of a message, sorted.
func placeholders(t *testing.T, id, text string) []string {
	t.Helper()
	tmpl, err := template.New(id).Parse(text)
	if err != nil {
		t.Errorf("%s: %v", id, err)
		return nil
	}
	set := map[string]bool{}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			set["."+strings.Join(n.Ident, ".")] = true
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	if tmpl.Tree != nil {
		walk(tmpl.Tree.Root)
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func TestPlaceholdersMatchAcrossLanguages(t *testing.T) {
	base := rawCatalogue(t, langs[0])
	for _, lang := range langs[1:] {
		other := rawCatalogue(t, lang)
		for id, text := range base {
			otherText, ok := other[id]
			if !ok {
				continue // reported by TestCataloguesHaveTheSameKeys
			}
			want := placeholders(t, id, text)
			got := placeholders(t, id, otherText)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s: %s uses placeholders %v, %s uses %v", id, lang, got, langs[0], want)
			}
		}
	}
}

func TestPlaceholderScanFindsFields(t *testing.T) {
	// The comparison above is only as good as this extraction.
	got := placeholders(t, "x", `Hi {{.Name}}, {{if .Count}}{{.Count}} new{{end}} {{"{{"}}.Literal{{"}}"}}`)
	if want := ".Count .Name"; strings.Join(got, " ") != want {
		t.Errorf("placeholders = %v, want %s", got, want)
	}
}

// repoRoot walks up from the package directory to the folder holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

var messageIDPatterns = []*regexp.Regexp{
	regexp.MustCompile(`\bT\(ctx, "([^"]+)"`),
	regexp.MustCompile(`\.T\(ctx, "([^"]+)"`),
	regexp.MustCompile(`s\.t\(c, "([^"]+)"`),
	regexp.MustCompile(`s\.flash\(c, "[a-z]+", "([^"]+)"`),
	regexp.MustCompile(`msgID = "([a-z_.]+)"`),
	regexp.MustCompile(`"(error\.[a-z_]+)"`),
}

// usedMessageIDs scans the code and templates for message ids, mapping each id to where
// it was first seen. Generated *_templ.go files repeat their .templ source; tests may use
// made-up ids on purpose; comments only describe calls.
func usedMessageIDs(t *testing.T, root string) map[string]string {
	t.Helper()
	ids := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "vendor", "testdata", "bin", "data":
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if !(strings.HasSuffix(name, ".go") || strings.HasSuffix(name, ".templ")) ||
			strings.HasSuffix(name, "_templ.go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") {
				continue
			}
			for _, re := range messageIDPatterns {
				for _, m := range re.FindAllStringSubmatch(line, -1) {
					if _, seen := ids[m[1]]; !seen {
						ids[m[1]] = rel + ":" + strconv.Itoa(i+1)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", root, err)
	}
	return ids
}

func TestEveryMessageIDUsedInCodeExists(t *testing.T) {
	c := load(t)
	ids := usedMessageIDs(t, repoRoot(t))
	if len(ids) < 10 {
		t.Fatalf("the scan found only %d message ids (%v); it is no longer matching how the code translates", len(ids), ids)
	}
	t.Logf("found %d message ids in code and templates", len(ids))
	var gaps []string
	for id, where := range ids {
		if !c.Has("en", id) {
			gaps = append(gaps, id+" (used at "+where+")")
		}
	}
	sort.Strings(gaps)
	for _, g := range gaps {
		t.Errorf("message id missing from en.json: %s", g)
	}
}

func TestNegotiatePrefersCookieThenAcceptLanguageThenDefault(t *testing.T) {
	c := load(t)
	tests := []struct {
		name, chosen, accept, def, want string
	}{
		{"cookie wins over Accept-Language", "ru", "en-US,en;q=0.9", "en", "ru"},
		{"cookie wins over default", "en", "", "ru", "en"},
		{"Accept-Language with region", "", "ru-RU,ru;q=0.9", "en", "ru"},
		{"Accept-Language picks best supported", "", "de;q=1.0,ru;q=0.5", "en", "ru"},
		{"unsupported Accept-Language falls to default en", "", "de", "en", "en"},
		{"unsupported Accept-Language falls to default ru", "", "de", "ru", "ru"},
		{"unsupported cookie is ignored", "fr", "ru-RU,ru;q=0.9", "en", "ru"},
		{"unsupported cookie and no header gives default", "fr", "", "ru", "ru"},
		{"malformed Accept-Language gives default", "", ";;;q=x", "ru", "ru"},
		{"nothing at all gives default", "", "", "ru", "ru"},
		{"unsupported default falls back to first language", "", "", "de", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Negotiate(tt.chosen, tt.accept, tt.def); got != tt.want {
				t.Errorf("Negotiate(%q, %q, %q) = %q, want %q", tt.chosen, tt.accept, tt.def, got, tt.want)
			}
		})
	}
}

func TestTranslatePicksTheLanguage(t *testing.T) {
	c := load(t)
	en, ru := c.Translate("en", "nav.home", nil), c.Translate("ru", "nav.home", nil)
	if en != "Home" {
		t.Errorf("en nav.home = %q, want Home", en)
	}
	if ru != "Главная" {
		t.Errorf("ru nav.home = %q, want Главная", ru)
	}
}

func TestTranslateRendersTemplateMessages(t *testing.T) {
	c := load(t)
	// The message shows users the literal {{.Name}} they may type: it must come out rendered,
	// not as the escaped template source.
	got := c.Translate("en", "home.step.message.text", nil)
	if !strings.Contains(got, "{{.Name}}") || strings.Contains(got, `{{"{{"}}`) {
		t.Errorf("home.step.message.text = %q, want the rendered text containing {{.Name}}", got)
	}
}

// catalogOf builds a catalogue from in-memory messages the way Load does.
func catalogOf(t *testing.T, msgs map[string]map[string]string) *Catalog {
	t.Helper()
	c := &Catalog{langs: langs, messages: map[string]map[string]*template.Template{}, raw: msgs}
	for lang, m := range msgs {
		c.messages[lang] = map[string]*template.Template{}
		for id, text := range m {
			c.messages[lang][id] = template.Must(template.New(id).Option("missingkey=error").Parse(text))
		}
	}
	return c
}

func TestTranslateWithDataRendersPlaceholders(t *testing.T) {
	c := catalogOf(t, map[string]map[string]string{
		"en": {"greet": "Hello, {{.Name}}! You have {{.Count}} messages.", "only.en": "Only {{.Name}}"},
		"ru": {"greet": "Привет, {{.Name}}! У вас {{.Count}} сообщений."},
	})
	tests := []struct {
		lang, id string
		data     any
		want     string
	}{
		{"en", "greet", map[string]any{"Name": "Ann", "Count": 3}, "Hello, Ann! You have 3 messages."},
		{"ru", "greet", struct {
			Name  string
			Count int
		}{"Анна", 5}, "Привет, Анна! У вас 5 сообщений."},
		{"ru", "only.en", map[string]any{"Name": "Bob"}, "Only Bob"},
		{"en", "greet", map[string]any{"Name": "Ann"}, "Hello, {{.Name}}! You have {{.Count}} messages."},
	}
	for _, tt := range tests {
		if got := c.Translate(tt.lang, tt.id, tt.data); got != tt.want {
			t.Errorf("Translate(%s, %s, %v) = %q, want %q", tt.lang, tt.id, tt.data, got, tt.want)
		}
	}
}

func TestTranslateMissingKeyRendersTheKey(t *testing.T) {
	c := load(t)
	for _, lang := range langs {
		if got := c.Translate(lang, "no.such.message", map[string]any{"X": 1}); got != "no.such.message" {
			t.Errorf("Translate(%s, no.such.message) = %q, want the id itself", lang, got)
		}
	}
	if got := c.For("ru").T("no.such.message"); got != "no.such.message" {
		t.Errorf("Localizer.T(no.such.message) = %q, want the id itself", got)
	}
}

func TestContextTranslationUsesTheRequestLocalizer(t *testing.T) {
	c := load(t)
	ctx := WithLocalizer(context.Background(), c.For("ru"))
	if got := FromContext(ctx).Lang; got != "ru" {
		t.Errorf("FromContext(ctx).Lang = %q, want ru", got)
	}
	if got := T(ctx, "nav.home"); got != "Главная" {
		t.Errorf("T(ru ctx, nav.home) = %q, want Главная", got)
	}
	if got := T(context.Background(), "nav.home"); got != "nav.home" {
		t.Errorf("T(ctx without localizer, nav.home) = %q, want the id", got)
	}
}

// Messages with only {{.Field}} actions skip text/template; the result must be exactly
// what the template renders, for every such message of every catalogue, with all fields,
// with one missing, and with a value the fast path leaves to the template.
func TestSimpleMessagesRenderAsTheirTemplatesDo(t *testing.T) {
	c := load(t)
	n := 0
	for _, lang := range langs {
		for id, sm := range c.simple[lang] {
			n++
			tmpl := c.messages[lang][id]
			viaTemplate := func(data map[string]any) string {
				var sb strings.Builder
				if err := tmpl.Execute(&sb, data); err != nil {
					return c.raw[lang][id]
				}
				return sb.String()
			}
			data := map[string]any{}
			for i, f := range sm.fields {
				if i%2 == 0 {
					data[f] = "<a&b> {{.X}} " + f
				} else {
					data[f] = 1000 + i
				}
			}
			if got, want := c.Translate(lang, id, data), viaTemplate(data); got != want {
				t.Errorf("%s %s: %q, template gives %q", lang, id, got, want)
			}
			delete(data, sm.fields[0])
			if got, want := c.Translate(lang, id, data), viaTemplate(data); got != want {
				t.Errorf("%s %s without %s: %q, template gives %q", lang, id, sm.fields[0], got, want)
			}
			v := 2.5
			data[sm.fields[0]] = &v
			if got, want := c.Translate(lang, id, data), viaTemplate(data); got != want {
				t.Errorf("%s %s with a pointer: %q, template gives %q", lang, id, got, want)
			}
		}
	}
	if n == 0 {
		t.Fatal("no message took the substitution path")
	}
	if _, ok := c.simple["en"]["home.step.message.text"]; ok {
		t.Error("a message that prints {{ literally was taken for a simple one")
	}
}
