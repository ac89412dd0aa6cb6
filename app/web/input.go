package web

import (
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// rejectBadText answers 400 for a request whose path, query or form carries text no person
// types: invalid UTF-8, or control characters. The databases refuse such text in a query
// (SQLite a NUL, PostgreSQL a NUL or invalid UTF-8), so without this check a search for
// "%00" was a 500 and an error in the log, for anonymous users too. It runs before any
// handler, so every GET filter and every form field is covered without each decoder
// repeating it. Form fields may hold tabs and line breaks (message bodies, comments);
// paths and query values may not. Uploaded files are not text fields: the CSV importer
// decodes them (FuzzParseClientsCSV).
func (s *Server) rejectBadText(c *fiber.Ctx) error {
	if !cleanText(c.Path(), false) {
		return fiber.ErrBadRequest
	}
	bad := false
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		bad = bad || !cleanText(string(k), false) || !cleanText(string(v), false)
	})
	if bad {
		return fiber.ErrBadRequest
	}
	if c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead {
		return c.Next()
	}
	if form, err := c.MultipartForm(); err == nil {
		for k, vs := range form.Value {
			bad = bad || !cleanText(k, false)
			for _, v := range vs {
				bad = bad || !cleanText(v, true)
			}
		}
	} else {
		c.Request().PostArgs().VisitAll(func(k, v []byte) {
			bad = bad || !cleanText(string(k), false) || !cleanText(string(v), true)
		})
	}
	if bad {
		return fiber.ErrBadRequest
	}
	return c.Next()
}

// cleanText reports whether v is valid UTF-8 without control characters (C0, DEL and C1);
// multiline allows tab, line feed and carriage return.
func cleanText(v string, multiline bool) bool {
	if !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			if multiline && (r == '\t' || r == '\n' || r == '\r') {
				continue
			}
			return false
		}
	}
	return true
}
