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
	CreatedAt      time.Time
	UpdatedAt      time.Time

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

// Message is what a mailing sends: a one-line subject and a body. Both may use {{.Name}}
// and {{.Email}}.
type Message struct {
	ID        int64 `bun:",pk,autoincrement"`
	OwnerID   int64
	Subject   string
	SubjectLC string `bun:"subject_lc"`
	Body      string
	CreatedAt time.Time
	UpdatedAt time.Time

	OwnerEmail string `bun:",scanonly"`
}

// Validate checks m's rules. A CR or LF in the subject is an error, never silently removed:
// it would otherwise be a way to inject mail headers.
func (m *Message) Validate() map[string]string {
	errs := map[string]string{}
	for field, v := range map[string]string{"subject": m.Subject, "body": m.Body} {
		if strings.ContainsRune(v, 0) {
			errs[field] = "validation.nul"
		}
	}
	switch {
	case strings.ContainsAny(m.Subject, "\r\n"):
		errs["subject"] = "validation.one_line"
	case errs["subject"] != "":
	case strings.TrimSpace(m.Subject) == "":
		m.Subject = ""
		errs["subject"] = "validation.required"
	case len([]rune(strings.TrimSpace(m.Subject))) > 250:
		m.Subject = strings.TrimSpace(m.Subject)
		errs["subject"] = "validation.too_long"
	default:
		m.Subject = strings.TrimSpace(m.Subject)
	}
	switch {
	case errs["body"] != "":
	case strings.TrimSpace(m.Body) == "":
		errs["body"] = "validation.required"
	case len(m.Body) > 256<<10:
		errs["body"] = "validation.too_long"
	}
	if len(errs) == 0 {
		if _, _, err := ParseTemplates(m.Subject, m.Body); err != nil {
			errs["body"] = "validation.template"
		}
	}
	m.SubjectLC = strings.ToLower(m.Subject)
	return errs
}

// Repeat periods of a mailing.
const (
	PeriodNone    = "none"
	PeriodDaily   = "daily"
	PeriodWeekly  = "weekly"
	PeriodMonthly = "monthly"
)

// Periods in the order forms offer them.
var Periods = []string{PeriodNone, PeriodDaily, PeriodWeekly, PeriodMonthly}

// Mailing sends a message to its recipients from StartAt, repeating every Period, until EndAt.
type Mailing struct {
	ID        int64 `bun:",pk,autoincrement"`
	OwnerID   int64
	MessageID int64
	StartAt   time.Time
	EndAt     time.Time
	Period    string
	Disabled  bool
	// FirstAttemptAt is set when the first send attempt of any run is recorded; the status
	// derives from it (an attempt exists ⇔ it is set), so lists need no join on attempts.
	FirstAttemptAt *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time

	OwnerEmail     string `bun:",scanonly"`
	OwnerBlocked   bool   `bun:",scanonly"`
	MessageSubject string `bun:",scanonly"`
	Recipients     int    `bun:",scanonly"`
}

// Validate checks the mailing's own fields; that the message and recipients belong to the
// owner is checked by the store inside the transaction that saves them.
func (m *Mailing) Validate() map[string]string {
	errs := map[string]string{}
	if m.Period == "" {
		m.Period = PeriodNone
	}
	valid := false
	for _, p := range Periods {
		valid = valid || p == m.Period
	}
	if !valid {
		errs["period"] = "validation.period"
	}
	if m.StartAt.IsZero() {
		errs["start_at"] = "validation.datetime"
	}
	if m.EndAt.IsZero() {
		errs["end_at"] = "validation.datetime"
	} else if !m.StartAt.IsZero() && !m.EndAt.After(m.StartAt) {
		errs["end_at"] = "validation.end_after_start"
	}
	if m.MessageID == 0 {
		errs["message_id"] = "validation.required"
	}
	return errs
}

// Mailing statuses, derived from facts by Status and by the store's SQL expression alike.
const (
	StatusCreated  = "created"
	StatusRunning  = "running"
	StatusFinished = "finished"
)

// Status is the one rule for a mailing's status (SPEC §2): Finished once the end time has
// passed; otherwise Running when any send attempt exists; otherwise Created. The store's
// StatusSQL must say the same; a test holds them together at the edges of the clock.
func Status(m *Mailing, now time.Time) string {
	switch {
	case !m.EndAt.After(now):
		return StatusFinished
	case m.FirstAttemptAt != nil:
		return StatusRunning
	default:
		return StatusCreated
	}
}

// Scope says whose data a query may see: one owner's, or, for a manager's reads, everyone's.
type Scope struct {
	UserID int64
	All    bool
}

// ListParams are the search, sort and page of a list.
type ListParams struct {
	Q      string
	Sort   string // a column the list allows; the list's default when empty or unknown
	Desc   bool
	Cursor string // opaque position from a previous page
	Back   bool   // the page before Cursor rather than after
	Limit  int
	Status string // mailings only: filter by derived status
}

// Page is one page of a keyset-paginated list.
type Page[T any] struct {
	Items []T
	Next  string // cursor of the next page, "" on the last
	Prev  string // cursor of the previous page, "" on the first
}
