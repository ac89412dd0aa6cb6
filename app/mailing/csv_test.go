package mailing

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

type wantRow struct {
	line                   int
	email, name, comment   string
	emailErr, nameErr, cmt string
}

func checkRows(t *testing.T, got []ClientRow, want []wantRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Line != w.line || g.Client.Email != w.email || g.Client.FullName != w.name || g.Client.Comment != w.comment {
			t.Errorf("row %d = line %d %q %q %q, want line %d %q %q %q", i, g.Line, g.Client.Email, g.Client.FullName,
				g.Client.Comment, w.line, w.email, w.name, w.comment)
		}
		if g.Errors["email"] != w.emailErr || g.Errors["full_name"] != w.nameErr || g.Errors["comment"] != w.cmt {
			t.Errorf("row %d (line %d) errors = %v, want email=%q full_name=%q comment=%q", i, g.Line, g.Errors, w.emailErr, w.nameErr, w.cmt)
		}
		if g.Valid() != (w.emailErr == "" && w.nameErr == "" && w.cmt == "") {
			t.Errorf("row %d Valid() = %v with errors %v", i, g.Valid(), g.Errors)
		}
	}
}

func parse(t *testing.T, in string) []ClientRow {
	t.Helper()
	rows, err := ParseClientsCSV(strings.NewReader(in))
	if err != nil {
		t.Fatalf("ParseClientsCSV: %v", err)
	}
	return rows
}

func TestCSVWithHeader(t *testing.T) {
	rows := parse(t, "Email,Full name,Comment\nIvan@Example.com, Ivan Petrov ,vip\nanna@example.com,Anna\n")
	checkRows(t, rows, []wantRow{
		{line: 2, email: "ivan@example.com", name: "Ivan Petrov", comment: "vip"},
		{line: 3, email: "anna@example.com", name: "Anna"},
	})
}

func TestCSVHeaderVariants(t *testing.T) {
	for _, h := range []string{"email", "E-Mail;Имя", "Эл. почта,ФИО", "  EMAIL ADDRESS  ,name", "e-mail"} {
		rows := parse(t, h+"\nx@example.com\n")
		checkRows(t, rows, []wantRow{{line: 2, email: "x@example.com"}})
	}
}

func TestCSVWithoutHeader(t *testing.T) {
	rows := parse(t, "a@example.com,A\r\nb@example.com,B,note,extra,columns\r\n")
	checkRows(t, rows, []wantRow{
		{line: 1, email: "a@example.com", name: "A"},
		{line: 2, email: "b@example.com", name: "B", comment: "note"},
	})
}

func TestCSVFirstLineNotAnEmailNorAHeaderIsAnError(t *testing.T) {
	rows := parse(t, "Ivan Petrov,x\nb@example.com\n")
	checkRows(t, rows, []wantRow{
		{line: 1, email: "ivan petrov", name: "x", emailErr: "validation.email"},
		{line: 2, email: "b@example.com"},
	})
}

func TestCSVSemicolonAndBOM(t *testing.T) {
	rows := parse(t, "\ufeffemail;name;comment\na@example.com;Smith, John;likes, commas\nb@example.com;\"Quoted; semi\";\n")
	checkRows(t, rows, []wantRow{
		{line: 2, email: "a@example.com", name: "Smith, John", comment: "likes, commas"},
		{line: 3, email: "b@example.com", name: "Quoted; semi"},
	})
	// A BOM before a data line: the first email must not carry it.
	rows = parse(t, "\ufeffa@example.com;A\n")
	checkRows(t, rows, []wantRow{{line: 1, email: "a@example.com", name: "A"}})
}

func TestCSVSniffIgnoresDelimitersInQuotes(t *testing.T) {
	rows := parse(t, "a@example.com,\"x;y;z\",c\n")
	checkRows(t, rows, []wantRow{{line: 1, email: "a@example.com", name: "x;y;z", comment: "c"}})
}

func TestCSVQuotedCommasAndNewlines(t *testing.T) {
	rows := parse(t, "email,full_name,comment\n"+
		"a@example.com,\"Petrov, Ivan\",\"line one\nline two, with \"\"quotes\"\"\"\n"+
		"b@example.com,  \"Spaced\",x\n")
	checkRows(t, rows, []wantRow{
		{line: 2, email: "a@example.com", name: "Petrov, Ivan", comment: "line one\nline two, with \"quotes\""},
		{line: 4, email: "b@example.com", name: "Spaced", comment: "x"},
	})
}

func TestCSVInvalidEmailsPerLine(t *testing.T) {
	rows := parse(t, "email\nok@example.com\nnot an email\n@example.com\nx@localhost\nfine@example.org\n")
	checkRows(t, rows, []wantRow{
		{line: 2, email: "ok@example.com"},
		{line: 3, email: "not an email", emailErr: "validation.email"},
		{line: 4, email: "@example.com", emailErr: "validation.email"},
		{line: 5, email: "x@localhost", emailErr: "validation.email"},
		{line: 6, email: "fine@example.org"},
	})
}

func TestCSVTooLongFields(t *testing.T) {
	long := strings.Repeat("я", 201)
	rows := parse(t, "a@example.com,"+long+","+strings.Repeat("c", 2001)+"\n")
	if len(rows) != 1 || rows[0].Errors["full_name"] != "validation.too_long" || rows[0].Errors["comment"] != "validation.too_long" || rows[0].Valid() {
		t.Fatalf("too long: %+v", rows[0].Errors)
	}
}

func TestCSVDuplicatesKeepTheFirst(t *testing.T) {
	rows := parse(t, "a@example.com,First\nb@example.com\nA@EXAMPLE.COM,Second\na@example.com,Third\n")
	checkRows(t, rows, []wantRow{
		{line: 1, email: "a@example.com", name: "First"},
		{line: 2, email: "b@example.com"},
		{line: 3, email: "a@example.com", name: "Second", emailErr: CSVErrDuplicate},
		{line: 4, email: "a@example.com", name: "Third", emailErr: CSVErrDuplicate},
	})
}

func TestCSVBlankLinesSkipped(t *testing.T) {
	rows := parse(t, "\n\nemail,name\n\n  \na@example.com,A\n,,\n , \n\nb@example.com\n\n")
	checkRows(t, rows, []wantRow{
		{line: 6, email: "a@example.com", name: "A"},
		{line: 10, email: "b@example.com"},
	})
	if rows := parse(t, ""); len(rows) != 0 {
		t.Fatalf("empty input: %v", rows)
	}
	if rows := parse(t, "email,name\n"); len(rows) != 0 {
		t.Fatalf("header only: %v", rows)
	}
}

func TestCSVMalformedQuotesNameTheLine(t *testing.T) {
	for _, tt := range []struct {
		in   string
		line int
	}{
		{"a@example.com,A\nb@example.com,B\"roken\n", 2},
		{"a@example.com,A\nb@example.com,\"unterminated\nc@example.com,C\n", 2},
		{"email\na@example.com,\"x\"y\n", 2},
	} {
		_, err := ParseClientsCSV(strings.NewReader(tt.in))
		var ce *CSVError
		if !errors.As(err, &ce) || ce.Key != CSVErrMalformed || ce.Line != tt.line {
			t.Errorf("%q: err = %v, want malformed at line %d", tt.in, err, tt.line)
			continue
		}
		if ce.Args()["Line"] != tt.line {
			t.Errorf("Args = %v", ce.Args())
		}
	}
}

func TestCSVNotUTF8IsAnError(t *testing.T) {
	_, err := ParseClientsCSV(strings.NewReader("a@example.com,A\nb@example.com,\xcf\xe5\xf2\xf0\n"))
	var ce *CSVError
	if !errors.As(err, &ce) || ce.Key != CSVErrEncoding || ce.Line != 2 {
		t.Fatalf("err = %v, want encoding at line 2", err)
	}
	_, err = ParseClientsCSV(strings.NewReader("a@example.com,A\x00B\n"))
	if !errors.As(err, &ce) || ce.Key != CSVErrEncoding || ce.Line != 1 {
		t.Fatalf("NUL: err = %v", err)
	}
}

func TestCSVRowCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("email\n")
	for i := 0; i < MaxImportRows; i++ {
		fmt.Fprintf(&b, "u%d@example.com\n", i)
	}
	rows := parse(t, b.String())
	if len(rows) != MaxImportRows {
		t.Fatalf("rows = %d", len(rows))
	}
	b.WriteString("\n\nlast@example.com\n")
	_, err := ParseClientsCSV(strings.NewReader(b.String()))
	var ce *CSVError
	if !errors.As(err, &ce) || ce.Key != CSVErrTooManyRows || ce.Line != MaxImportRows+4 {
		t.Fatalf("over the cap: %v", err)
	}
}

func FuzzParseClientsCSV(f *testing.F) {
	for _, s := range []string{
		"email,full_name,comment\na@example.com,A,c\n",
		"\ufeffemail;name\nB@Example.com;\"x;y\"\n\n",
		"a@example.com,\"multi\nline\"\na@example.com,dup\n",
		"bad,\"x\"y\n",
		"not an email\n \n,,\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ParseClientsCSV(strings.NewReader(string(data)))
		if err != nil {
			var ce *CSVError
			if !errors.As(err, &ce) || ce.Line < 1 || ce.Key == "" {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		prev := 0
		for _, r := range rows {
			if r.Line <= prev {
				t.Fatalf("line numbers not increasing: %d after %d", r.Line, prev)
			}
			prev = r.Line
			if !r.Valid() {
				continue
			}
			norm, ok := NormalizeEmail(r.Client.Email)
			if !ok || norm != r.Client.Email {
				t.Fatalf("valid row with email %q (normalised %q, ok %v)", r.Client.Email, norm, ok)
			}
			if seen[norm] {
				t.Fatalf("email %q valid twice", norm)
			}
			seen[norm] = true
		}
	})
}

func TestTheFourthColumnIsTheClientsTags(t *testing.T) {
	rows, err := ParseClientsCSV(strings.NewReader("email,name,comment,tags\nann@example.com,Ann,,\"VIP, news, vip\"\nbob@example.com,Bob,,\n"))
	if err != nil || len(rows) != 2 {
		t.Fatalf("%+v %v", rows, err)
	}
	if got := rows[0].Client.Tags; len(got) != 2 || got[0] != "VIP" || got[1] != "news" {
		t.Fatalf("tags %q, want VIP and news once each", got)
	}
	if rows[1].Client.Tags != nil {
		t.Fatalf("an empty cell gave tags %q: it must leave the client's tags alone", rows[1].Client.Tags)
	}
	// A header naming another fourth column: not tags.
	rows, err = ParseClientsCSV(strings.NewReader("email,name,comment,phone\nann@example.com,Ann,,555\n"))
	if err != nil || rows[0].Client.Tags != nil {
		t.Fatalf("a phone column read as tags: %+v %v", rows, err)
	}
}

// FuzzCSVCell: an exported cell never starts as a spreadsheet formula, and the importer
// reads every exported value back as it was.
func FuzzCSVCell(f *testing.F) {
	for _, s := range []string{"", "=HYPERLINK(\"http://evil.test\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1",
		"\r=1", "'", "'=1", "''+1", "plain", "it's", "Анна"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		out := CSVCell(v)
		if out != "" && strings.ContainsRune("=+-@\t\r", rune(out[0])) {
			t.Fatalf("CSVCell(%q) = %q starts as a formula", v, out)
		}
		if back := csvValue(out); back != v {
			t.Fatalf("csvValue(CSVCell(%q)) = %q", v, back)
		}
		if !formulaLike(v) && out != v {
			t.Fatalf("CSVCell(%q) = %q changed a plain value", v, out)
		}
	})
}
