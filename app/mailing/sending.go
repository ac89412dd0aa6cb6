package mailing

import (
	"time"
)

// Run kinds: what started a run.
const (
	RunManual   = "manual"
	RunCLI      = "cli"
	RunSchedule = "schedule"
	RunResend   = "resend"
)

// Run is one "send" of a mailing: a delivery per recipient at the moment it started.
type Run struct {
	ID         int64 `bun:",pk,autoincrement"`
	MailingID  int64
	OwnerID    int64
	Kind       string
	Slot       *time.Time // the schedule slot of a scheduled run
	Total      int
	StartedAt  time.Time
	FinishedAt *time.Time
}

// Delivery states. A delivery moves pending → sending (claimed) → sent | failed, or back to
// pending for a retry; cancelled when its mailing is disabled or its owner blocked mid-run.
const (
	DeliveryPending   = "pending"
	DeliverySending   = "sending"
	DeliverySent      = "sent"
	DeliveryFailed    = "failed"
	DeliveryCancelled = "cancelled"
	// DeliverySuppressed is a recipient a run skipped at its start: their address is on
	// the owner's suppression list, Reason says why.
	DeliverySuppressed = "suppressed"
)

// Delivery is one recipient of one run.
type Delivery struct {
	ID        int64
	RunID     int64
	MailingID int64
	ClientID  int64
	Email     string
	Name      string
	Tries     int
}

// Attempt statuses («Успешно / Не успешно»).
const (
	AttemptSuccess = "success"
	AttemptFailure = "failure"
)

// Attempt is one try to hand one delivery to the mail server. It is written once and never
// edited.
type Attempt struct {
	ID          int64 `bun:",pk,autoincrement"`
	MailingID   int64
	RunID       int64
	DeliveryID  int64
	ClientID    int64 `bun:",nullzero"`
	Email       string
	AttemptedAt time.Time
	Status      string
	SMTPCode    int `bun:"smtp_code"`
	Response    string
	LatencyMS   int `bun:"latency_ms"`
	// Reason is a failure's normalised cause ("550 5.1.1", "connection refused"), what
	// statistics group by; "" for a success.
	Reason string
}

// RunProgress counts a run's deliveries by state.
type RunProgress struct {
	RunID      int64
	Total      int
	Sent       int
	Failed     int
	Pending    int // pending or being sent
	Cancelled  int
	Suppressed int // skipped at the start, their addresses suppressed
	StartedAt  time.Time
	FinishedAt *time.Time
}

// Done reports whether every delivery reached an end state.
func (p RunProgress) Done() bool { return p.Pending == 0 }

// Reasons a mailing may not be sent now, as translation keys.
var (
	ErrMailingFinished = &Error{Code: EFORBIDDEN, Message: "send.refused_finished"}
	ErrMailingDisabled = &Error{Code: EFORBIDDEN, Message: "send.refused_disabled"}
	ErrOwnerBlocked    = &Error{Code: EFORBIDDEN, Message: "send.refused_blocked"}
	ErrNoRecipients    = &Error{Code: EINVALID, Message: "send.refused_no_recipients"}
	ErrRunInProgress   = &Error{Code: ECONFLICT, Message: "send.refused_in_progress"}
	ErrRunSuperseded   = &Error{Code: ECONFLICT, Message: "send.refused_superseded"}
)

// CanSend is the rule for starting a run: finished, disabled mailings and mailings of blocked
// owners are never sent.
func CanSend(m *Mailing, ownerBlocked bool, now time.Time) error {
	switch {
	case m.Disabled:
		return ErrMailingDisabled
	case ownerBlocked:
		return ErrOwnerBlocked
	case Status(m, now) == StatusFinished:
		return ErrMailingFinished
	}
	return nil
}

// Backoff is the wait before try number tries+1 after a transient failure: base, 2×base, 4×base…
func Backoff(base time.Duration, tries int) time.Duration {
	if tries < 1 {
		tries = 1
	}
	if tries > 20 {
		tries = 20
	}
	return base << (tries - 1)
}

// RelayState is the mail server as the workers see it. While DownSince is set it has been
// unreachable (refused, timed out, dropped before a recipient was named, refused the TLS or
// the login, or answered 421) and no one sends before NextTryAt; recipients' tries are not
// spent on it.
type RelayState struct {
	DownSince *time.Time
	NextTryAt *time.Time
	Failures  int
	LastError string
}

// Down reports an outage in progress.
func (r RelayState) Down() bool { return r.DownSince != nil }

// Paused reports whether no one may send at now.
func (r RelayState) Paused(now time.Time) bool {
	return r.DownSince != nil && r.NextTryAt != nil && now.Before(*r.NextTryAt)
}

// RelayBackoff is the pause after the failures-th failed try to reach the mail server:
// base, doubling, up to limit (5 s → 5 min by default, as an MTA's queue runner would).
func RelayBackoff(base, limit time.Duration, failures int) time.Duration {
	d := Backoff(base, failures)
	if d > limit || d <= 0 {
		return limit
	}
	return d
}

// DeliveryInfo is one delivery as the API shows it: where it stands and its attempts.
type DeliveryInfo struct {
	ID        int64
	RunID     int64
	MailingID int64
	MessageID int64
	OwnerID   int64
	Email     string
	Name      string
	State     string
	Reason    string
	Tries     int
	Attempts  []Attempt `bun:"-"`
}
