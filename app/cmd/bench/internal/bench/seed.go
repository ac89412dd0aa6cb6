package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"mailer/app/mailing"
	"mailer/app/store"
)

// seedBatch is how many clients one UpsertClients call takes (one transaction each).
const seedBatch = 5000

func clientEmail(i int) string { return fmt.Sprintf("client%06d@bench.example", i) }
func clientName(i int) string  { return fmt.Sprintf("Client %06d", i) }

// seedOwner creates a confirmed user to own what is seeded.
func seedOwner(ctx context.Context, st *store.Store, email string) (*mailing.User, error) {
	u := &mailing.User{Email: email, Language: "en"}
	if err := st.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("seed user: %w", err)
	}
	if err := st.ConfirmUser(ctx, u.ID); err != nil {
		return nil, fmt.Errorf("seed user: %w", err)
	}
	return u, nil
}

// seedClients gives ownerID n clients, client000000@bench.example onwards.
// Every benchTagEvery-th client carries benchTag: the tag filter row lists a tenth of the
// clients, spread over the whole list as an imported segment is.
const (
	benchTag      = "vip"
	benchTagEvery = 10
)

func seedClients(ctx context.Context, st *store.Store, ownerID int64, n int) error {
	batch := make([]mailing.Client, 0, min(n, seedBatch))
	for start := 0; start < n; start += seedBatch {
		batch = batch[:0]
		for i := start; i < min(start+seedBatch, n); i++ {
			name := clientName(i)
			c := mailing.Client{Email: clientEmail(i), FullName: name, NameLC: strings.ToLower(name)}
			if i%benchTagEvery == 0 {
				c.Tags = []string{benchTag}
			}
			batch = append(batch, c)
		}
		if _, _, err := st.UpsertClients(ctx, ownerID, batch); err != nil {
			return fmt.Errorf("seed clients: %w", err)
		}
	}
	return nil
}

// messageBody is a plain-text body of about 2.4 KB that greets the recipient by name.
func messageBody() string {
	var b strings.Builder
	b.WriteString("Hello {{.Name}},\n\n")
	const para = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod\n" +
		"tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam,\n" +
		"quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo.\n\n"
	for b.Len() < 2330 {
		b.WriteString(para)
	}
	b.WriteString("Regards,\nThe Mailer benchmark\n")
	return b.String()
}

// htmlBody is the body of an HTML newsletter of about 8 KB: sections with headings,
// paragraphs, links carrying the recipient's address and a button — what the default layout
// wraps into a message of about 20 KB with its text part.
func htmlBody() string {
	var b strings.Builder
	b.WriteString("<h1>News for {{.Name}}</h1>\n<p>Hello {{.Name}}, here is what happened this month.</p>\n")
	const section = `<h2>Section %d</h2>
<p>Lorem ipsum dolor sit amet, <strong>consectetur adipiscing elit</strong>, sed do eiusmod tempor incididunt
ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut
aliquip ex ea commodo consequat. <a href="https://example.com/articles/%d?utm_source=mailer&amp;to={{.Email}}">Read more</a>.</p>
<ul><li>Duis aute irure dolor in reprehenderit</li><li>in voluptate velit esse cillum dolore</li><li>eu fugiat nulla pariatur</li></ul>
`
	for i := 1; b.Len() < 8_000; i++ {
		fmt.Fprintf(&b, section, i, i)
	}
	b.WriteString(`<p><a class="button" href="https://example.com/offer?to={{.Email}}">See the offer</a></p>` + "\n")
	return b.String()
}

// seedHTMLMessage saves an HTML message in ownerID's default layout.
func seedHTMLMessage(ctx context.Context, st *store.Store, ownerID int64, subject string) (*mailing.Message, *mailing.Layout, error) {
	layoutID, err := st.DefaultLayout(ctx, ownerID)
	if err != nil {
		return nil, nil, fmt.Errorf("seed layout: %w", err)
	}
	layout, err := st.LayoutByID(ctx, mailing.Scope{UserID: ownerID}, layoutID)
	if err != nil {
		return nil, nil, fmt.Errorf("seed layout: %w", err)
	}
	m := &mailing.Message{OwnerID: ownerID, Subject: subject, Body: htmlBody(), Format: mailing.FormatHTML, LayoutID: &layoutID}
	if errs := m.Validate(); len(errs) > 0 {
		return nil, nil, fmt.Errorf("seed message: %v", errs)
	}
	if err := st.CreateMessage(ctx, m); err != nil {
		return nil, nil, fmt.Errorf("seed message: %w", err)
	}
	return m, layout, nil
}

func seedMessage(ctx context.Context, st *store.Store, ownerID int64, subject string) (*mailing.Message, error) {
	m := &mailing.Message{OwnerID: ownerID, Subject: subject, Body: messageBody()}
	if errs := m.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("seed message: %v", errs)
	}
	if err := st.CreateMessage(ctx, m); err != nil {
		return nil, fmt.Errorf("seed message: %w", err)
	}
	return m, nil
}

// seedMailing saves a one-off mailing of messageID that starts in an hour and ends in a
// day. Its start lies ahead so that the worker's scheduler does not start a run of its own
// beside the benchmark's (a due slot without a run is started by the scheduler); "send
// now" is allowed until the end.
func seedMailing(ctx context.Context, st *store.Store, ownerID, messageID int64, r mailing.Recipients) (*mailing.Mailing, error) {
	now := time.Now().UTC()
	m := &mailing.Mailing{OwnerID: ownerID, MessageID: messageID, StartAt: now.Add(time.Hour), EndAt: now.Add(25 * time.Hour),
		Period: mailing.PeriodNone}
	if errs := m.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("seed mailing: %v", errs)
	}
	if err := st.SaveMailing(ctx, m, r); err != nil {
		return nil, fmt.Errorf("seed mailing: %w", err)
	}
	return m, nil
}

// SeededAttempts counts the attempts a seed recorded.
type SeededAttempts struct {
	Success int // successful attempts
	Failure int // failed attempts, transient (retried) and final
	Sent    int // deliveries that reached "sent": one success each
	Pending int // deliveries left pending (not tried yet, or waiting for a retry)
}

func (a *SeededAttempts) add(b SeededAttempts) {
	a.Success += b.Success
	a.Failure += b.Failure
	a.Sent += b.Sent
	a.Pending += b.Pending
}

// Attempts is every attempt recorded.
func (a SeededAttempts) Attempts() int { return a.Success + a.Failure }

// Failure responses the seed records, as a mail server words them.
const (
	reply421 = "421 4.7.0 mx.bench.example Error: too many connections from 127.0.0.1"
	reply451 = "451 4.7.1 Service unavailable - try again later (greylisted)"
	reply550 = "550 5.1.1 Recipient address rejected: User unknown in virtual mailbox table"
	reply552 = "552 5.2.2 Mailbox full: user is over quota"
	reply554 = "554 5.7.1 Message rejected: looks like spam"
)

// seedRetryAfter is the wait the seed puts between two tries of one delivery; seedMaxTries
// is the try at which a transient failure becomes final, as SEND_MAX_TRIES would make it.
const (
	seedRetryAfter = 15 * time.Minute
	seedMaxTries   = 3
)

// seedRun starts a run of m (a delivery per recipient, through CreateRun, as "send now"
// does) and records attempts for share (0 to 1) of its deliveries with the worker's own
// statements — ClaimDeliveries and RecordOutcomes — seedBatch deliveries at a time. First
// tries are spread evenly from from to to, like a throttled run; about 85 % succeed, 8 %
// meet a 4xx and are retried 15 minutes later (up to three tries), the rest get a 5xx and
// fail for good. Outcomes depend only on the delivery's id, so a seed is repeatable. The
// deliveries beyond share stay pending; a run with none left is finished.
func seedRun(ctx context.Context, st *store.Store, m *mailing.Mailing, share float64, from, to time.Time) (SeededAttempts, error) {
	var got SeededAttempts
	run, err := st.CreateRun(ctx, m, mailing.RunManual, nil, 0)
	if err != nil {
		return got, fmt.Errorf("seed run: %w", err)
	}
	target := int(float64(run.Total) * share)
	const worker = "bench-seed"
	span := to.Sub(from)
	first := 0
	last := map[int64]time.Time{} // the time of a retried delivery's previous try
	for {
		ds, err := st.ClaimDeliveries(ctx, run.ID, worker, seedBatch, time.Now().Add(time.Hour))
		if err != nil {
			return got, fmt.Errorf("seed run: %w", err)
		}
		if len(ds) == 0 {
			break
		}
		outs := make([]store.Outcome, 0, len(ds))
		var release []int64
		for _, d := range ds {
			var at time.Time
			if d.Tries == 0 {
				// Deliveries are claimed retries first (their next try is due earlier), so once
				// the share is tried a fresh delivery means no retry is left.
				if first >= target {
					release = append(release, d.ID)
					continue
				}
				at = from.Add(time.Duration(int64(span) * int64(first) / int64(max(target, 1))))
				first++
			} else {
				at = last[d.ID].Add(seedRetryAfter)
			}
			o := seedOutcome(run, d, at.UTC())
			switch o.State {
			case mailing.DeliverySent:
				got.Sent++
				delete(last, d.ID)
			case mailing.DeliveryPending:
				last[d.ID] = at
			default:
				delete(last, d.ID)
			}
			if o.Attempt.Status == mailing.AttemptSuccess {
				got.Success++
			} else {
				got.Failure++
			}
			outs = append(outs, o)
		}
		if err := st.RecordOutcomes(ctx, worker, outs); err != nil {
			return got, fmt.Errorf("seed attempts: %w", err)
		}
		if len(release) > 0 {
			if err := st.ReleaseClaims(ctx, worker, release); err != nil {
				return got, fmt.Errorf("seed run: %w", err)
			}
			break
		}
	}
	p, err := st.Progress(ctx, run.ID)
	if err != nil {
		return got, fmt.Errorf("seed run: %w", err)
	}
	got.Pending = p.Pending
	if p.Done() {
		if _, err := st.FinishRun(ctx, run.ID); err != nil {
			return got, fmt.Errorf("seed run: %w", err)
		}
	}
	return got, nil
}

// seedOutcome decides one try of d at at, from d's id and its try number.
func seedOutcome(run *mailing.Run, d mailing.Delivery, at time.Time) store.Outcome {
	h := uint64(d.ID)*0x9E3779B97F4A7C15 + uint64(d.Tries)*0xBF58476D1CE4E5B9
	h ^= h >> 31
	r := int(h % 100)
	a := mailing.Attempt{MailingID: run.MailingID, RunID: run.ID, DeliveryID: d.ID, ClientID: d.ClientID, Email: d.Email,
		AttemptedAt: at, LatencyMS: 20 + int(h>>8%60)}
	out := store.Outcome{Delivery: d, Attempt: a}
	fail := func(reply string, code int, transient bool) store.Outcome {
		out.Attempt.Status, out.Attempt.SMTPCode, out.Attempt.Response = mailing.AttemptFailure, code, reply
		out.State = mailing.DeliveryFailed
		if transient && d.Tries+1 < seedMaxTries {
			// Due on the hour: RecordOutcomes updates the deliveries of one retry time
			// together, and per-delivery times would make that one statement each.
			out.State, out.RetryAt = mailing.DeliveryPending, at.Add(seedRetryAfter).Truncate(time.Hour)
		}
		return out
	}
	success := d.Tries == 0 && r < 85 || d.Tries > 0 && r < 70
	switch {
	case success:
		out.Attempt.Status, out.Attempt.SMTPCode = mailing.AttemptSuccess, 250
		out.Attempt.Response = fmt.Sprintf("250 2.0.0 Ok: queued as %010X", h>>24)
		out.State = mailing.DeliverySent
		return out
	case d.Tries > 0 || r < 89:
		return fail(reply451, 451, true)
	case r < 93:
		return fail(reply421, 421, true)
	case r < 97:
		return fail(reply550, 550, false)
	case r < 99:
		return fail(reply552, 552, false)
	}
	return fail(reply554, 554, false)
}
