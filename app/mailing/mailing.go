package mailing

import "time"

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
	// AllClients sends to every client the owner has when a run starts.
	AllClients bool
	// Transactional marks a message's hidden mailing of one-off sends through the API: never
	// listed, counted or scheduled.
	Transactional bool
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
	} else if !DateInRange(m.StartAt) {
		errs["start_at"] = "validation.date_range"
	}
	if m.EndAt.IsZero() {
		errs["end_at"] = "validation.datetime"
	} else if !DateInRange(m.EndAt) {
		errs["end_at"] = "validation.date_range"
	} else if !m.StartAt.IsZero() && !m.EndAt.After(m.StartAt) {
		errs["end_at"] = "validation.end_after_start"
	}
	if m.MessageID == 0 {
		errs["message_id"] = "validation.required"
	}
	return errs
}

// DateInRange reports whether t falls in the years 1970–9999: a start in year 0 was
// accepted and sent at once (finding 11), and dates outside it overflow Unix seconds in
// SQL or four-digit years in forms.
func DateInRange(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1970 && y <= 9999
}

// Mailing statuses, derived from facts by Status and by the store's SQL expression alike.
const (
	StatusCreated  = "created"
	StatusRunning  = "running"
	StatusFinished = "finished"
)

// FilterDisabled is the mailings list's filter for disabled mailings, offered beside the
// statuses (disabled is a flag, not a status).
const FilterDisabled = "disabled"

// MailingFilters are the values of the mailings list's status filter, "" meaning all.
var MailingFilters = []string{StatusCreated, StatusRunning, StatusFinished, FilterDisabled}

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

// Recipients is who a mailing sends to, resolved when each run starts: every client of
// the owner (All), or the clients carrying any of Tags and the listed ClientIDs.
type Recipients struct {
	ClientIDs []int64
	Tags      []string
	All       bool
}
