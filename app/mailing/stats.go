package mailing

import "time"

// StatsFilter picks the attempts the statistics count: those of the mailings in Scope made
// on the days From to To inclusive, days being those of Loc.
type StatsFilter struct {
	Scope Scope
	Loc   *time.Location
	From  time.Time // any instant of the first day, read in Loc
	To    time.Time // any instant of the last day, read in Loc
}

// Stats are the figures of a period. Every figure comes from an aggregate query: no attempt
// row is loaded.
type Stats struct {
	Success int // successful attempts
	Failure int // failed attempts
	// Sent counts the deliveries that reached "sent" in the period: one success per delivery.
	Sent int
	// Bounces are the bounces and complaints reported in the period, by whatever source.
	Bounces  BounceCounts
	Mailings []MailingStat // the busiest mailings, by Sent
	Days     []DayStat     // every day of the period, in order, zeros included
	Failures []FailureStat // the most common failure responses
}

// MailingStat is one mailing's figures in the period.
type MailingStat struct {
	MailingID  int64  `bun:"mailing_id"`
	Subject    string `bun:"subject"`
	OwnerEmail string `bun:"owner_email"`
	Success    int    `bun:"success"`
	Failure    int    `bun:"failure"`
	Sent       int    `bun:"sent"`
	// Bounces (hard and soft) and Complaints reported in the period for the mailing.
	Bounces    int `bun:"-"`
	Complaints int `bun:"-"`
}

// DayStat counts one local day's attempts.
type DayStat struct {
	Day     time.Time // start of the day in the filter's location (midnight, see StartOfDay)
	Success int
	Failure int
	// Bounces counts the day's bounces and complaints together.
	Bounces int
}

// FailureStat is one failure response and how often it came.
type FailureStat struct {
	Response string `bun:"response"` // the normalised reason ("550 5.1.1", "timeout")
	Count    int    `bun:"n"`
	// Example is one of the group's answers as the server gave it, so a reader sees what
	// "550 5.1.1" said.
	Example string `bun:"example"`
}

// How many rows the per-mailing and failure lists keep.
const (
	StatsTopMailings = 50
	StatsTopFailures = 10
)

// Bounds returns the period as instants: [midnight of From, midnight after To) in Loc.
func (f StatsFilter) Bounds() (start, end time.Time) {
	loc := f.Location()
	y, m, d := f.From.In(loc).Date()
	start = StartOfDay(y, m, d, loc)
	y, m, d = f.To.In(loc).Date()
	end = StartOfDay(y, m, d+1, loc)
	return start, end
}

// StartOfDay is the first instant of a calendar day in loc (d may overflow the month, as
// in time.Date). Usually midnight; but where a clock change skips midnight (Chile moves
// 00:00 to 01:00) time.Date answers with the previous evening, so the day starts at the
// change instead — stepping by midnights there would never leave the day.
func StartOfDay(y int, m time.Month, d int, loc *time.Location) time.Time {
	noon := time.Date(y, m, d, 12, 0, 0, 0, loc)
	y, m, d = noon.Date()
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if ty, tm, td := t.Date(); ty == y && tm == m && td == d {
		return t
	}
	start, _ := noon.ZoneBounds() // the change that skipped midnight
	return start
}

// Location is the zone whose days the filter counts (UTC when unset).
func (f StatsFilter) Location() *time.Location {
	if f.Loc == nil {
		return time.UTC
	}
	return f.Loc
}

// HomeCounts are the home page's figures, what a new user has yet to make (Clients and
// Messages; Mailings counts too), and how the latest runs went.
type HomeCounts struct {
	Mailings   int
	Running    int
	Recipients int
	Clients    int
	Messages   int
	Recent     []RecentRun
}

// RecentRuns is how many runs the home page lists.
const RecentRuns = 5

// RecentRun is one of the latest runs, as the home page lists it: its mailing and how its
// deliveries stand.
type RecentRun struct {
	RunProgress
	MailingID  int64
	Subject    string // the message's subject template
	OwnerEmail string // for managers, whose mailing it is
}

// Run states as the home page names them.
const (
	RunRunning      = "running"
	RunDone         = "done"
	RunWithFailures = "failures" // done, some deliveries failed or were cancelled
)

// State is how the run stands: still sending, done, or done with failures.
func (r RecentRun) State() string {
	switch {
	case !r.Done():
		return RunRunning
	case r.Failed > 0 || r.Cancelled > 0:
		return RunWithFailures
	}
	return RunDone
}
