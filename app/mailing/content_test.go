package mailing_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"mailer/app/mailing"
)

var ann = mailing.TemplateData{Name: "Ann", Email: "ann@example.com", UnsubscribeURL: "https://mail.example/unsubscribe/7.sig", Sender: "ACME News"}

func render(t *testing.T, m *mailing.Message, l *mailing.Layout, d mailing.TemplateData) mailing.Rendered {
	t.Helper()
	tpl, err := mailing.Compile(m, l)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	r, err := tpl.Render(d)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

func TestMarkdownBecomesHTMLAndAReadableTextPart(t *testing.T) {
	body := "# Spring news for {{.Name}}\n\nOur **new** season starts. See [the programme](https://example.com/spring).\n\n" +
		"- first point\n- second point\n\nWrite to {{.Email}}.\n"
	r := render(t, &mailing.Message{Subject: "News for {{.Name}}", Format: mailing.FormatMarkdown, Body: body}, nil, ann)
	if r.Subject != "News for Ann" {
		t.Errorf("subject %q", r.Subject)
	}
	for _, want := range []string{"<h1>Spring news for Ann</h1>", "<strong>new</strong>", `<a href="https://example.com/spring">the programme</a>`,
		"<li>first point</li>", "ann@example.com"} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, r.HTML)
		}
	}
	for _, want := range []string{"Spring news for Ann\n\nOur new season starts. See the programme (https://example.com/spring).",
		"- first point\n- second point", "Write to ann@example.com."} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, r.Text)
		}
	}
	if strings.ContainsAny(r.Text, "<>*#") {
		t.Errorf("markup left in the text part:\n%s", r.Text)
	}
}

func TestNamesAreEscapedForWhereTheyStandInHTML(t *testing.T) {
	body := `<p>Hello {{.Name}}</p><p><a title="{{.Name}}" href="https://example.com/?who={{.Name}}">you</a> <a href="{{.Name}}">x</a></p>`
	evil := mailing.TemplateData{Name: `<b>Ann</b>" onmouseover="x`, Email: "ann@example.com"}
	r := render(t, &mailing.Message{Subject: "Hi", Format: mailing.FormatHTML, Body: body}, nil, evil)
	if strings.Contains(r.HTML, "<b>Ann</b>") || strings.Contains(r.HTML, `" onmouseover`) {
		t.Fatalf("the name arrives as markup:\n%s", r.HTML)
	}
	for _, want := range []string{
		"Hello &lt;b&gt;Ann&lt;/b&gt;&#34; onmouseover=&#34;x",                         // text
		`title="&lt;b&gt;Ann&lt;/b&gt;&#34; onmouseover=&#34;x"`,                       // attribute
		`href="https://example.com/?who=%3cb%3eAnn%3c%2fb%3e%22%20onmouseover%3d%22x"`, // URL query
	} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, r.HTML)
		}
	}
	// A whole URL from data must not become a script.
	r = render(t, &mailing.Message{Subject: "Hi", Format: mailing.FormatHTML, Body: body}, nil,
		mailing.TemplateData{Name: "javascript:alert(1)"})
	if strings.Contains(r.HTML, `href="javascript:`) {
		t.Fatalf("a javascript: URL passed:\n%s", r.HTML)
	}
	// The text part has the name as it is: text is not HTML.
	if !strings.Contains(render(t, &mailing.Message{Subject: "Hi", Format: mailing.FormatHTML, Body: body}, nil, evil).Text, `Hello <b>Ann</b>" onmouseover="x`) {
		t.Error("the text part escaped the name")
	}
}

func TestMarkdownNamesAreEscapedToo(t *testing.T) {
	r := render(t, &mailing.Message{Subject: "Hi", Format: mailing.FormatMarkdown, Body: "Hi *{{.Name}}* — [site](https://example.com/?n={{.Name}})"}, nil,
		mailing.TemplateData{Name: "<script>x</script>"})
	if strings.Contains(r.HTML, "<script>") {
		t.Fatalf("a name became a script:\n%s", r.HTML)
	}
	if !strings.Contains(r.HTML, "<em>&lt;script&gt;x&lt;/script&gt;</em>") || !strings.Contains(r.HTML, "?n=%3cscript%3ex%3c%2fscript%3e") {
		t.Fatalf("name not escaped for its places:\n%s", r.HTML)
	}
}

func TestALayoutWrapsTheMessageAndGetsTheFooterWhenItHasNoUnsubscribeLink(t *testing.T) {
	m := &mailing.Message{Subject: "Hi", Format: mailing.FormatMarkdown, Body: "Hello {{.Name}}"}
	bare := &mailing.Layout{HTML: "<html><body><div class=\"frame\">{{.Content}}</div></body></html>"}
	r := render(t, m, bare, ann)
	if !strings.Contains(r.HTML, "<div class=\"frame\"><p>Hello Ann</p>") {
		t.Fatalf("message not set in the layout:\n%s", r.HTML)
	}
	if strings.Count(r.HTML, ann.UnsubscribeURL) != 1 || strings.Index(r.HTML, ann.UnsubscribeURL) > strings.Index(r.HTML, "</body>") {
		t.Fatalf("the standard footer is not inside the body once:\n%s", r.HTML)
	}
	if !strings.Contains(r.Text, "Unsubscribe ("+ann.UnsubscribeURL+")") {
		t.Errorf("the text part lacks the footer's link:\n%s", r.Text)
	}

	own := &mailing.Layout{HTML: `<html><body>{{.Content}}<p><a href="{{.UnsubscribeURL}}">Leave the list</a></p></body></html>`}
	r = render(t, m, own, ann)
	if strings.Count(r.HTML, ann.UnsubscribeURL) != 1 || !strings.Contains(r.HTML, "Leave the list") {
		t.Fatalf("a layout with its own link got a second one:\n%s", r.HTML)
	}

	// A test send has no unsubscribe link: the footer says nothing then.
	r = render(t, m, bare, mailing.TemplateData{Name: "Ann"})
	if strings.Contains(r.HTML, "Unsubscribe") {
		t.Fatalf("a footer without a link:\n%s", r.HTML)
	}
}

func TestTheDefaultLayoutIsTableBasedAndInlinesItsCSS(t *testing.T) {
	def := &mailing.Layout{Name: mailing.DefaultLayoutName, HTML: mailing.DefaultLayoutHTML}
	if errs := def.Validate(); len(errs) > 0 {
		t.Fatalf("the default layout is invalid: %v", errs)
	}
	r := render(t, &mailing.Message{Subject: "Hi", Format: mailing.FormatMarkdown, Body: "Hello {{.Name}}"}, def, ann)
	for _, want := range []string{`role="presentation"`, `width="600"`, "ACME News", "<p>Hello Ann</p>", ann.UnsubscribeURL,
		`style="padding:8px 32px 32px 32px;`, `<meta name="viewport"`} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("the default layout's mail lacks %q", want)
		}
	}
	if strings.Contains(r.HTML, "<style") && strings.Contains(r.HTML, ".content {") {
		t.Error("styles were left in <style> instead of being inlined")
	}
}

func TestStylesAreInlined(t *testing.T) {
	body := "<html><head><style>p.lead { color: #c00; font-weight: bold }</style></head><body><p class=\"lead\">Hi {{.Name}}</p></body></html>"
	r := render(t, &mailing.Message{Subject: "Hi", Format: mailing.FormatHTML, Body: body}, nil, ann)
	if !strings.Contains(r.HTML, `style="color:#c00;font-weight:bold"`) || !strings.Contains(r.HTML, ">Hi Ann</p>") {
		t.Fatalf("style not inlined:\n%s", r.HTML)
	}
}

func TestATemplateErrorNamesTheLineTheSenderWrote(t *testing.T) {
	for _, tc := range []struct {
		format, body string
		line         int
	}{
		{mailing.FormatMarkdown, "# Title\n\nSome text\n\nHello {{.Name\n", 5},
		{mailing.FormatHTML, "<p>a</p>\n<p>{{.Nope}}</p>\n", 2},
		// An unclosed {{if}} is noticed where the text ends.
		{mailing.FormatText, "one\ntwo\nthree {{if .Name}}\n", 4},
	} {
		_, err := mailing.Compile(&mailing.Message{Subject: "s", Format: tc.format, Body: tc.body}, nil)
		var te *mailing.TemplateError
		if !errors.As(err, &te) || te.Field != "body" || te.Line != tc.line {
			t.Errorf("%s body %q: %v (%#v), want line %d", tc.format, tc.body, err, te, tc.line)
		}
	}
	// Functions and loops stay out, as for plain text.
	for _, body := range []string{`{{range .Name}}x{{end}}`, `{{define "x"}}y{{end}}`, `{{printf "%s" .Name | html}}{{call .Name}}`} {
		if _, err := mailing.Compile(&mailing.Message{Subject: "s", Format: mailing.FormatHTML, Body: body}, nil); err == nil {
			t.Errorf("%q compiled", body)
		}
	}
}

func TestTheSendersTextPartReplacesTheGeneratedOne(t *testing.T) {
	m := &mailing.Message{Subject: "Hi", Format: mailing.FormatHTML, Body: "<p>Hello {{.Name}}</p>", TextBody: "Plain hello, {{.Name}}."}
	r := render(t, m, nil, ann)
	if r.Text != "Plain hello, Ann." || !strings.Contains(r.HTML, "<p>Hello Ann</p>") {
		t.Fatalf("text %q html %q", r.Text, r.HTML)
	}
}

func TestAPlainTextMessageHasNoHTMLPart(t *testing.T) {
	r := render(t, &mailing.Message{Subject: "Hi", Format: mailing.FormatText, Body: "Hello <b>{{.Name}}</b>"}, &mailing.Layout{HTML: "{{.Content}}"}, ann)
	if r.HTML != "" || r.Text != "Hello <b>Ann</b>" {
		t.Fatalf("text %q html %q", r.Text, r.HTML)
	}
}

func TestALayoutHoldsContentExactlyOnce(t *testing.T) {
	for html, want := range map[string]string{
		"<p>no slot</p>":                       "layouts.content_once",
		"{{.Content}} and {{ .Content }}":      "layouts.content_once",
		"<p>{{.Content}}</p>{{if}}":            "validation.template",
		"<p>{{.Content}}</p>":                  "",
		"<p>{{.Content}} {{.Sender}}</p>":      "",
		"<p>{{.Content}} {{.Nonexistent}}</p>": "validation.template",
	} {
		l := &mailing.Layout{Name: "L", HTML: html}
		if got := l.Validate()["html"]; got != want {
			t.Errorf("layout %q: %q, want %q", html, got, want)
		}
	}
}

func TestMessageBodiesAreBoundedAt512KiB(t *testing.T) {
	m := &mailing.Message{Subject: "s", Format: mailing.FormatHTML, Body: "<p>" + strings.Repeat("x", mailing.MaxBody) + "</p>"}
	if m.Validate()["body"] != "validation.too_long" {
		t.Fatal("a body over 512 KiB was accepted")
	}
	m = &mailing.Message{Subject: "s", Format: mailing.FormatHTML, Body: "<p>" + strings.Repeat("x", 300<<10) + "</p>"}
	if errs := m.Validate(); len(errs) > 0 {
		t.Fatalf("a 300 KiB body refused: %v", errs)
	}
}

func TestHTMLToText(t *testing.T) {
	for _, tc := range []struct{ html, want string }{
		{"<p>One</p><p>Two</p>", "One\n\nTwo\n"},
		{"<h2>Title</h2>Some <b>bold</b> text<br>next line", "Title\n\nSome bold text\nnext line\n"},
		{`<a href="https://a.example/x">read more</a>`, "read more (https://a.example/x)\n"},
		{`<a href="https://a.example/">https://a.example/</a>`, "https://a.example/\n"},
		{`<a href="mailto:ann@example.com">write</a>`, "write (ann@example.com)\n"},
		{"<ul><li>a</li><li>b</li></ul><p>after</p>", "- a\n- b\n\nafter\n"},
		{"<head><title>T</title><style>p{}</style></head><script>alert(1)</script><p>x &amp; y &lt;z&gt;</p>", "x & y <z>\n"},
		{`<img src="a.png" alt="Logo"> text`, "Logo text\n"},
	} {
		if got := mailing.HTMLToText(tc.html); got != tc.want {
			t.Errorf("HTMLToText(%q) = %q, want %q", tc.html, got, tc.want)
		}
	}
	long := "<p>" + strings.Repeat("word ", 60) + "</p>"
	for _, line := range strings.Split(mailing.HTMLToText(long), "\n") {
		if utf8.RuneCountInString(line) > 76 {
			t.Fatalf("line of %d characters: %q", utf8.RuneCountInString(line), line)
		}
	}
}

func FuzzHTMLToText(f *testing.F) {
	for _, s := range []string{"<p>One</p><p>Two</p>", `<a href="https://x">y</a>`, "<ul><li>a<li>b</ul>", "<style>x</style>z",
		"<p>" + strings.Repeat("long ", 40) + "</p>", "<a href=x><a href=y>nested</a></a>", "&lt;&#x41;&nbsp;", "<br><br><br>x<hr>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		out := mailing.HTMLToText(src)
		if !strings.HasSuffix(out, "\n") {
			t.Fatalf("no final newline: %q", out)
		}
		if strings.Contains(out, "\r") || strings.Contains(out, "\n\n\n") {
			t.Fatalf("stray breaks in %q", out)
		}
		for _, line := range strings.Split(out, "\n") {
			if line != strings.TrimRight(line, " ") {
				t.Fatalf("trailing space in %q", line)
			}
			// Only a single word longer than the width may pass it.
			if utf8.RuneCountInString(line) > 76 && strings.Contains(strings.TrimSpace(line), " ") {
				t.Fatalf("line of %d characters: %q", utf8.RuneCountInString(line), line)
			}
		}
		// Text without markup comes out as its words.
		if !strings.ContainsAny(src, "<&") {
			if got, want := strings.Fields(out), strings.Fields(src); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("words of %q became %q", src, out)
			}
		}
	})
}
