package mailing

import (
	"net/mail"
	"strings"
	"time"
)

// Roles.
const (
	RoleUser    = "user"
	RoleManager = "manager"
)

// User is an account. A user owns clients, messages and mailings; a manager also oversees
// everyone's, read-only.
// The bun tags are plain struct tags: this package does not import Bun.
type User struct {
	ID           int64 `bun:",pk,autoincrement"`
	Email        string
	PasswordHash string `bun:",nullzero"` // empty for accounts that only sign in through a provider
	Role         string
	Language     string
	Timezone     string
	ConfirmedAt  *time.Time
	BlockedAt    *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (u *User) IsManager() bool { return u.Role == RoleManager }
func (u *User) Confirmed() bool { return u.ConfirmedAt != nil }
func (u *User) Blocked() bool   { return u.BlockedAt != nil }

// Password length bounds: long enough to resist guessing, short enough that hashing a
// hostile input stays cheap. No composition rules (NIST SP 800-63B).
const (
	PasswordMin = 8
	PasswordMax = 128
)

// ValidatePassword returns the translation key of what is wrong with p, or "".
func ValidatePassword(p string) string {
	n := len([]rune(p))
	switch {
	case n < PasswordMin:
		return "validation.password_short"
	case n > PasswordMax:
		return "validation.password_long"
	}
	return ""
}

// NormalizeEmail lower-cases and trims an address and reports whether it is valid.
// Addresses compare case-insensitively everywhere in Mailer.
func NormalizeEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > 254 || strings.ContainsAny(s, " \r\n\t<>\"") {
		return s, false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return s, false
	}
	return s, true
}

// Token kinds for emailed links.
const (
	TokenConfirm = "confirm"
	TokenReset   = "reset"
)

// How long emailed links stay valid.
const (
	ConfirmTokenTTL = 48 * time.Hour
	ResetTokenTTL   = time.Hour
)
