package mail

import (
	"bytes"
	"io"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// TestQuotedPrintable: writeQP's output keeps every line within 76 characters with CRLF
// ends, carries only printable ASCII, and decodes (with the standard reader) to the text it
// was given, line ends aside — for long lines, trailing blanks, "=", CRs and UTF-8.
func TestQuotedPrintable(t *testing.T) {
	cases := []string{"", "a", "a\n", "\n", "trailing space \nand tab\t", "=", "x=y\r\n", "lone\rcr", "ж",
		strings.Repeat("a", 75), strings.Repeat("a", 76), strings.Repeat("a", 77), strings.Repeat("ж", 40),
		strings.Repeat("a", 74) + " ", strings.Repeat("=", 30) + "\n" + strings.Repeat(" ", 80)}
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "b", " ", "\t", "=", "\r", "\n", "\r\n", "ж", ".", "\x00", "\x7f"}
	for range 3000 {
		var b strings.Builder
		for range r.IntN(200) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	norm := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
	for _, c := range cases {
		var b bytes.Buffer
		writeQP(&b, c)
		out := b.Bytes()
		for i, line := range bytes.Split(out, []byte("\r\n")) {
			if len(line) > 76 {
				t.Fatalf("input %q: line %d is %d long: %q", c, i, len(line), line)
			}
			for _, ch := range line {
				if ch < 32 && ch != '\t' || ch > 126 {
					t.Fatalf("input %q: byte %#x on line %d", c, ch, i)
				}
			}
			if n := len(line); n > 0 && (line[n-1] == ' ' || line[n-1] == '\t') {
				t.Fatalf("input %q: line %d ends in a blank: %q", c, i, line)
			}
		}
		got, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(out)))
		if err != nil {
			t.Fatalf("input %q: %v\n%s", c, err, out)
		}
		if norm(string(got)) != norm(c) {
			t.Fatalf("input %q decodes as %q\n%s", c, got, out)
		}
	}
}
