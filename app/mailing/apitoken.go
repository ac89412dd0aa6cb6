package mailing

import (
	"strings"
	"time"
)

// APIToken is a named credential for the JSON API. Only a hash of its value is stored; the
// value is shown once, at creation, and Prefix identifies it afterwards.
type APIToken struct {
	ID         int64 `bun:",pk,autoincrement"`
	UserID     int64
	Name       string
	Prefix     string
	Hash       string `json:"-"`
	ReadOnly   bool
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	CreatedAt  time.Time
}

// Revoked reports whether the token has been revoked.
func (t *APIToken) Revoked() bool { return t.RevokedAt != nil }

// APITokenPrefix starts every token value, so a leaked one is recognisable (secret scanners)
// and never mistaken for a session cookie.
const APITokenPrefix = "mlr_"

// ValidateTokenName normalises a token's name and returns the translation key of what is
// wrong with it, or "".
func ValidateTokenName(name string) (string, string) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return name, "validation.required"
	case strings.ContainsAny(name, "\x00\r\n"):
		return name, "validation.one_line"
	case len([]rune(name)) > 100:
		return name, "validation.too_long"
	}
	return name, ""
}
