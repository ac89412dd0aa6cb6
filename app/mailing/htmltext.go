package mailing

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// textWidth is where the plain-text part wraps its lines (RFC 5322 recommends 78).
const textWidth = 76

// HTMLToText is the plain-text alternative of an HTML mail: paragraphs and headings
// become blocks separated by a blank line, list items lines starting with "- ", a link
// its text followed by its address in brackets, no markup is left, and lines are wrapped
// at textWidth. Style, script and head are dropped.
func HTMLToText(src string) string {
	var w textWriter
	z := html.NewTokenizer(strings.NewReader(src))
	var href []string  // the open links' addresses, innermost last
	var linkText []int // where each open link's text started in w.line
	skip := 0          // inside style, script, head, title
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			w.block()
			return strings.TrimSpace(w.out.String()) + "\n"
		case html.TextToken:
			if skip == 0 {
				w.text(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			switch tag {
			case "style", "script", "head", "title":
				if tt == html.StartTagToken {
					skip++
				}
			case "br":
				w.newline()
			case "hr":
				w.block()
				w.text("----")
				w.block()
			case "li":
				w.newline()
				w.text("- ")
			case "img":
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "alt" && len(v) > 0 {
						w.text(string(v))
					}
				}
			case "a":
				link := ""
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "href" {
						link = string(v)
					}
				}
				href = append(href, link)
				linkText = append(linkText, w.written)
			default:
				if blockTags[tag] {
					w.block()
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch tag {
			case "style", "script", "head", "title":
				if skip > 0 {
					skip--
				}
			case "a":
				if n := len(href); n > 0 {
					link, start := href[n-1], linkText[n-1]
					href, linkText = href[:n-1], linkText[:n-1]
					// A link whose text is its address is written once; mailto: and
					// fragment links add nothing a reader can follow.
					if link != "" && !strings.HasPrefix(link, "#") && w.written > start && !strings.HasSuffix(w.recent(), link) {
						w.text(" (" + strings.TrimPrefix(link, "mailto:") + ")")
					}
				}
			default:
				if blockTags[tag] {
					w.block()
				}
			}
		}
	}
}

var blockTags = map[string]bool{
	"p": true, "div": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"ul": true, "ol": true, "table": true, "tr": true, "blockquote": true, "pre": true, "section": true,
	"article": true, "header": true, "footer": true, "body": true, "center": true,
}

// textWriter collects words into wrapped lines and lines into blocks.
type textWriter struct {
	out     strings.Builder
	line    strings.Builder
	written int // runes of text written so far, to tell whether a link had any
	space   bool
	blanks  int // line breaks written since the last text (2 = a blank line)
}

func (w *textWriter) text(s string) {
	for i, word := range strings.Fields(s) {
		if i > 0 || (len(s) > 0 && isSpace(s[0])) {
			w.space = true
		}
		w.word(word)
	}
	if len(s) > 0 && isSpace(s[len(s)-1]) {
		w.space = true
	}
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' }

func (w *textWriter) word(word string) {
	n := utf8.RuneCountInString(word)
	if w.line.Len() > 0 {
		if utf8.RuneCountInString(w.line.String())+1+n > textWidth {
			w.flush()
		} else if w.space {
			w.line.WriteByte(' ')
		}
	}
	w.line.WriteString(word)
	w.written += n
	w.space = false
	w.blanks = 0
}

// recent is the text of the current line, for a link that repeats its address.
func (w *textWriter) recent() string { return w.line.String() }

func (w *textWriter) flush() {
	if w.line.Len() == 0 {
		return
	}
	w.out.WriteString(strings.TrimRight(w.line.String(), " "))
	w.out.WriteByte('\n')
	w.line.Reset()
	w.blanks = 1
}

func (w *textWriter) newline() {
	if w.line.Len() > 0 {
		w.flush()
	} else if w.out.Len() > 0 && w.blanks < 2 {
		w.out.WriteByte('\n')
		w.blanks++
	}
	w.space = false
}

// block ends a paragraph: whatever follows starts after one blank line.
func (w *textWriter) block() {
	w.flush()
	if w.out.Len() > 0 && w.blanks < 2 {
		w.out.WriteByte('\n')
		w.blanks = 2
	}
	w.space = false
}
