package mailing

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxImportRows is the most client lines one CSV file may hold.
const MaxImportRows = 100_000

// ClientRow is one non-blank line of an imported CSV file. Errors maps a field (email,
// full_name, comment) to a translation key; a row without errors can be imported.
type ClientRow struct {
	Line   int
	Client Client
	Errors map[string]string
}

// Valid reports whether the row can be imported.
func (r ClientRow) Valid() bool { return len(r.Errors) == 0 }

// CSVError is a problem with a CSV file as a whole, so nothing of it can be imported. Key
// is a translation key whose text may use {{.Line}} and {{.Max}}.
type CSVError struct {
	Line int
	Key  string
	Err  error
}

func (e *CSVError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("csv line %d: %s: %v", e.Line, e.Key, e.Err)
	}
	return fmt.Sprintf("csv line %d: %s", e.Line, e.Key)
}

func (e *CSVError) Unwrap() error { return e.Err }

// Args are the values the message of Key may use.
func (e *CSVError) Args() map[string]any {
	return map[string]any{"Line": e.Line, "Max": MaxImportRows}
}

// Translation keys of CSV problems.
const (
	CSVErrMalformed   = "import.error.malformed"
	CSVErrTooManyRows = "import.error.too_many_rows"
	CSVErrEncoding    = "import.error.encoding"
	CSVErrDuplicate   = "import.error.duplicate"
)

const utf8BOM = "\ufeff"

// ParseClientsCSV reads clients from CSV: email, full name, comment and tags (names
// separated by commas inside the cell), in that order; a client whose tags cell is empty
// keeps the tags it has.
// A header line is optional, "," and ";" both work as the delimiter (sniffed from the first
// line), a UTF-8 BOM is skipped, cells are trimmed and extra columns ignored. Problems of a
// line are in its row's Errors; later lines repeating an email are marked as duplicates. A
// file that is not CSV, not UTF-8 or longer than MaxImportRows is a *CSVError naming the line.
func ParseClientsCSV(r io.Reader) ([]ClientRow, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(len(utf8BOM)); err == nil && string(b) == utf8BOM {
		br.Discard(len(utf8BOM)) //nolint:errcheck // peeked just above
	}
	head, _ := br.Peek(64 << 10) // whatever there is; a short file gives a short slice
	cr := csv.NewReader(br)
	cr.Comma = sniffDelimiter(head)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	var rows []ClientRow
	seen := map[string]int{}
	first, withTags := true, true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line := pe.StartLine
				if line == 0 {
					line = pe.Line
				}
				return nil, &CSVError{Line: line, Key: CSVErrMalformed, Err: pe.Err}
			}
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if !textCells(rec) {
			return nil, &CSVError{Line: line, Key: CSVErrEncoding}
		}
		cell := func(i int) string {
			if i < len(rec) {
				return csvValue(strings.TrimSpace(rec[i]))
			}
			return ""
		}
		if blank(rec) {
			continue
		}
		if first {
			first = false
			if isHeader(cell(0)) {
				// A header names the fourth column: only one about tags is read as tags.
				withTags = strings.Contains(strings.ToLower(cell(3)), "tag") || strings.Contains(strings.ToLower(cell(3)), "метк")
				continue
			}
		}
		if len(rows) == MaxImportRows {
			return nil, &CSVError{Line: line, Key: CSVErrTooManyRows}
		}
		row := ClientRow{Line: line, Client: Client{Email: cell(0), FullName: cell(1), Comment: cell(2)}}
		row.Errors = row.Client.Validate()
		if withTags && cell(3) != "" {
			tags, problem := ParseTags(cell(3))
			row.Client.Tags = tags
			if problem != "" {
				row.Errors["tags"] = problem
			}
		}
		if _, bad := row.Errors["email"]; !bad {
			if _, dup := seen[row.Client.Email]; dup {
				row.Errors["email"] = CSVErrDuplicate
			} else {
				seen[row.Client.Email] = line
			}
		}
		if len(row.Errors) == 0 {
			row.Errors = nil
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// sniffDelimiter picks ";" when the first non-blank line has more semicolons than commas
// outside quotes, and "," otherwise.
func sniffDelimiter(head []byte) rune {
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		commas, semis, quoted := 0, 0, false
		for _, b := range line {
			switch {
			case b == '"':
				quoted = !quoted
			case quoted:
			case b == ',':
				commas++
			case b == ';':
				semis++
			}
		}
		if semis > commas {
			return ';'
		}
		return ','
	}
	return ','
}

// isHeader reports whether a first cell names the email column rather than holding one.
func isHeader(first string) bool {
	if _, ok := NormalizeEmail(first); ok {
		return false
	}
	s := strings.ToLower(first)
	for _, w := range []string{"email", "e-mail", "mail", "почта", "адрес"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// textCells reports whether every cell is UTF-8 text without NUL bytes, which no database
// column would take.
func textCells(rec []string) bool {
	for _, c := range rec {
		if !utf8.ValidString(c) || strings.IndexByte(c, 0) >= 0 {
			return false
		}
	}
	return true
}

// CSVCell is v as an exported cell that a spreadsheet shows as text: a value starting with
// "=", "+", "-", "@", a tab or a carriage return would be read as a formula (OWASP's CSV
// injection: =HYPERLINK(…) leaks data, +cmd|… runs commands in old Excel), so it gets a
// leading apostrophe. A value that starts with apostrophes before such a character gets one
// more, so csvValue (the importer's reading) gives every exported value back unchanged.
func CSVCell(v string) string {
	if formulaLike(v) {
		return "'" + v
	}
	return v
}

// csvValue undoes CSVCell: one leading apostrophe is dropped where CSVCell would have added
// it. Any other cell is kept as typed, formulas included: they are only text in Mailer.
func csvValue(v string) string {
	if len(v) > 1 && v[0] == '\'' && formulaLike(v[1:]) {
		return v[1:]
	}
	return v
}

func formulaLike(v string) bool {
	for len(v) > 0 && v[0] == '\'' {
		v = v[1:]
	}
	return v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0]))
}
