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
func seedClients(ctx context.Context, st *store.Store, ownerID int64, n int) error {
	batch := make([]mailing.Client, 0, min(n, seedBatch))
	for start := 0; start < n; start += seedBatch {
		batch = batch[:0]
		for i := start; i < min(start+seedBatch, n); i++ {
			name := clientName(i)
			batch = append(batch, mailing.Client{Email: clientEmail(i), FullName: name, NameLC: strings.ToLower(name)})
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
func seedMailing(ctx context.Context, st *store.Store, ownerID, messageID int64, r store.Recipients) (*mailing.Mailing, error) {
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
