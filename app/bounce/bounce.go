// Package bounce learns of bounces and complaints after the SMTP exchange: it verifies and
// reads provider webhooks (a plain JSON form, Amazon SES through SNS, Mailgun, SendGrid,
// Postmark) and the reports that arrive in a bounce mailbox (RFC 3464 delivery status
// notifications, RFC 5965 abuse reports), matches each to the delivery it is about, and has
// the store record it under the bounce policy. It knows no HTTP framework: the web layer
// hands it bodies and headers.
package bounce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"unicode/utf8"

	"mailer/app/mailing"
)

// Errors a report is refused with; the web layer maps them to 4xx statuses. Nothing of a
// refused report is stored.
var (
	// ErrMalformed: the body is not what the format says (bad JSON, unknown type, no address).
	ErrMalformed = errors.New("malformed bounce report")
	// ErrForged: the signature or credentials do not verify.
	ErrForged = errors.New("bounce report signature does not verify")
	// ErrReplay: the report was taken already, or its timestamp is outside the window.
	ErrReplay = errors.New("bounce report replayed or stale")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func forged(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrForged, fmt.Sprintf(format, args...))
}

// Report is one bounce or complaint as a provider or a mailbox told it.
type Report struct {
	Email  string
	Kind   string // mailing.BounceHard, BounceSoft or BounceComplaint
	Reason string
	// MessageID is the original mail's Message-ID, when the report quotes it.
	MessageID string
	// DeliveryID is the delivery a VERP address named (verified); 0 when none.
	DeliveryID int64
}

// maxReason bounds the detail kept of a report: a diagnostic line, not a whole mail.
const maxReason = 500

// clean checks a report and tidies it: a valid address, a known kind, a short reason.
func (r *Report) clean() error {
	r.Email = strings.ToLower(strings.TrimSpace(r.Email))
	if r.Email != "" {
		a, err := mail.ParseAddress(r.Email)
		if err != nil || a.Address != r.Email || len(r.Email) > 254 {
			return malformed("bad address %q", truncate(r.Email, 80))
		}
	}
	switch r.Kind {
	case mailing.BounceHard, mailing.BounceSoft, mailing.BounceComplaint:
	default:
		return malformed("unknown type %q", truncate(r.Kind, 40))
	}
	r.Reason = truncate(strings.Join(strings.Fields(r.Reason), " "), maxReason)
	if strings.ContainsRune(r.Reason, 0) || !utf8.ValidString(r.Reason) {
		r.Reason = strings.ToValidUTF8(strings.ReplaceAll(r.Reason, "\x00", ""), "?")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Store is the database as bounce processing needs it; *store.Store implements it.
type Store interface {
	BounceTarget(ctx context.Context, deliveryID int64) (mailing.BounceTarget, error)
	AddressOwners(ctx context.Context, email string) ([]int64, error)
	RecordBounces(ctx context.Context, source, eventKey string, list []mailing.Bounce, policy mailing.BouncePolicy) (int, error)
}

// Service matches reports to deliveries and records them.
type Service struct {
	Store  Store
	Policy mailing.BouncePolicy
	Log    *slog.Logger
	// Changed is told whose data changed, so cached figures move on; may be nil.
	Changed func(ctx context.Context, ownerID int64)
}

// Result is what recording a batch of reports did.
type Result struct {
	Recorded   int // bounces stored (one report may count for several owners)
	Suppressed int // addresses that became suppressed
	Unmatched  int // reports that named no delivery and no known address
}

// Options say how strictly a batch is matched.
type Options struct {
	// Source is where the reports came from: mailing.BounceFromWebhook or BounceFromMailbox.
	Source string
	// Provider and EventKey identify the batch for replay protection; an empty EventKey
	// is not checked.
	Provider, EventKey string
	// DeliveryOnly refuses to match by address alone: a bounce mailbox takes mail from
	// anyone, so only a verified VERP token or a Message-ID whose delivery went to the
	// reported address counts there.
	DeliveryOnly bool
}

// Record matches each report to its delivery — the VERP token's, else the Message-ID's,
// else (unless DeliveryOnly) every owner who has a client with the address — and stores
// them all in one transaction. A report of a known provider batch comes back as ErrReplay.
func (s *Service) Record(ctx context.Context, o Options, reports []Report) (Result, error) {
	var res Result
	var list []mailing.Bounce
	for _, r := range reports {
		if err := r.clean(); err != nil {
			return Result{}, err
		}
		bs, err := s.match(ctx, o, r)
		if err != nil {
			return Result{}, err
		}
		if len(bs) == 0 {
			res.Unmatched++
		}
		list = append(list, bs...)
	}
	// A batch that matched nothing is remembered only from a webhook (so that its replay is
	// refused too): unmatched mail stays in the mailbox and must not be taken for done.
	if len(list) == 0 && (o.EventKey == "" || o.DeliveryOnly) {
		return res, nil
	}
	n, err := s.Store.RecordBounces(ctx, o.Provider, o.EventKey, list, s.Policy)
	if mailing.ErrorCode(err) == mailing.ECONFLICT {
		return Result{}, fmt.Errorf("%w: %s report %s", ErrReplay, o.Provider, o.EventKey)
	}
	if err != nil {
		return Result{}, err
	}
	res.Recorded, res.Suppressed = len(list), n
	owners := map[int64]bool{}
	for _, b := range list {
		if !owners[b.OwnerID] && s.Changed != nil {
			s.Changed(ctx, b.OwnerID)
		}
		owners[b.OwnerID] = true
	}
	return res, nil
}

// match returns the bounces a report makes: one for its delivery, or one per owner of the
// address; none when it matches nothing.
func (s *Service) match(ctx context.Context, o Options, r Report) ([]mailing.Bounce, error) {
	bounce := func(t mailing.BounceTarget) mailing.Bounce {
		b := mailing.Bounce{OwnerID: t.OwnerID, Email: t.Email, Kind: r.Kind, Source: o.Source, Detail: r.Reason}
		if t.DeliveryID != 0 {
			b.MailingID, b.DeliveryID = &t.MailingID, &t.DeliveryID
		}
		return b
	}
	if r.DeliveryID != 0 {
		// The token is signed: its delivery is the one, whatever address the report gives.
		t, err := s.Store.BounceTarget(ctx, r.DeliveryID)
		if err == nil {
			return []mailing.Bounce{bounce(t)}, nil
		}
		if mailing.ErrorCode(err) != mailing.ENOTFOUND {
			return nil, err
		}
	}
	if runID, id, ok := mailing.ParseMessageID(r.MessageID); ok {
		t, err := s.Store.BounceTarget(ctx, id)
		if err != nil && mailing.ErrorCode(err) != mailing.ENOTFOUND {
			return nil, err
		}
		// A Message-ID is no secret: it counts only where it agrees with the address reported.
		if err == nil && t.RunID == runID && (r.Email == "" || r.Email == t.Email) {
			return []mailing.Bounce{bounce(t)}, nil
		}
	}
	if o.DeliveryOnly || r.Email == "" {
		return nil, nil
	}
	owners, err := s.Store.AddressOwners(ctx, r.Email)
	if err != nil {
		return nil, err
	}
	var out []mailing.Bounce
	for _, id := range owners {
		out = append(out, bounce(mailing.BounceTarget{OwnerID: id, Email: r.Email}))
	}
	return out, nil
}
