package mailing

import (
	"strings"
	"time"
)

// Client is a recipient of mailings. Its email is unique per owner: two users may both
// have the same recipient.
type Client struct {
	ID             int64 `bun:",pk,autoincrement"`
	OwnerID        int64
	Email          string
	FullName       string
	NameLC         string `bun:"name_lc"` // lower-cased full name, for indexed prefix search
	Comment        string
	UnsubscribedAt *time.Time
	// Tags are the client's tags by name; the store sets them with the client when not nil.
	Tags      []string `bun:"-"`
	CreatedAt time.Time
	UpdatedAt time.Time

	OwnerEmail string `bun:",scanonly"` // filled for managers' lists
}

// Validate normalises c and returns field → translation key for every broken rule.
func (c *Client) Validate() map[string]string {
	errs := map[string]string{}
	// A NUL byte is refused by the database: say so on the field instead of failing later.
	for field, v := range map[string]string{"email": c.Email, "full_name": c.FullName, "comment": c.Comment} {
		if strings.ContainsRune(v, 0) {
			errs[field] = "validation.nul"
		}
	}
	var ok bool
	if c.Email, ok = NormalizeEmail(c.Email); !ok && errs["email"] == "" {
		errs["email"] = "validation.email"
	}
	c.FullName = strings.TrimSpace(c.FullName)
	switch {
	case errs["full_name"] != "":
	case strings.ContainsAny(c.FullName, "\r\n"):
		errs["full_name"] = "validation.one_line"
	case len([]rune(c.FullName)) > 200:
		errs["full_name"] = "validation.too_long"
	}
	c.NameLC = strings.ToLower(c.FullName)
	if len([]rune(c.Comment)) > 2000 && errs["comment"] == "" {
		errs["comment"] = "validation.too_long"
	}
	return errs
}
