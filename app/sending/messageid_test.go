package sending_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"mailer/app/mail"
	"mailer/app/testutil"
)

// idSender records the Message-ID of every message handed to it, sent or not.
type idSender struct {
	mail.Sender
	mu  sync.Mutex
	ids []string
}

func (s *idSender) Send(ctx context.Context, m mail.Message) (string, error) {
	s.mu.Lock()
	s.ids = append(s.ids, m.MessageID)
	s.mu.Unlock()
	return s.Sender.Send(ctx, m)
}

// Message-IDs are <delivery>.<run>.<installation>@<domain>: two fresh databases — whose
// first run and first delivery have the same ids — give different ones, and a delivery's
// retry repeats its own, so a receiver can drop the copy a crash may have sent twice.
func TestMessageIDsDifferAcrossInstallationsAndRepeatForARetry(t *testing.T) {
	var first []string
	for i := range 2 {
		f := newFixture(t, fixtureOptions{n: 1})
		f.sink.FailNext(1, testutil.Defer451)
		rec := &idSender{Sender: f.pool}
		e := f.engine("t1", rec)
		run := f.start(e, f.m)
		f.process(e, run.ID)
		f.clock.Advance(time.Minute)
		if res := f.process(e, run.ID); res.Sent != 1 {
			t.Fatalf("installation %d: the retry was not sent: %+v", i, res)
		}
		if len(rec.ids) != 2 || rec.ids[0] != rec.ids[1] {
			t.Fatalf("installation %d: Message-IDs of the try and its retry %v, want the same twice", i, rec.ids)
		}
		inst, _ := f.st.InstallationID(f.ctx)
		if want := "1.1." + inst + "@example.com"; rec.ids[0] != want || len(inst) < 16 {
			t.Fatalf("installation %d: Message-ID %q, want %q", i, rec.ids[0], want)
		}
		if got := f.sink.Last(t).MessageID; got != rec.ids[0] {
			t.Errorf("the sink got Message-ID %q, want %q", got, rec.ids[0])
		}
		// The id is made once: asking again, or another engine, gives the same.
		if again, _ := f.st.InstallationID(f.ctx); again != inst {
			t.Errorf("installation id changed from %q to %q", inst, again)
		}
		first = append(first, rec.ids[0])
	}
	if first[0] == first[1] || !strings.HasPrefix(first[1], "1.1.") {
		t.Fatalf("two fresh databases gave Message-IDs %q and %q, want different ones", first[0], first[1])
	}
}
