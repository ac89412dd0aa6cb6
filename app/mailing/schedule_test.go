package mailing_test

import (
	"strings"
	"testing"
	"time"

	"mailer/app/mailing"
)

func schedAt(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDueSlot(t *testing.T) {
	start := schedAt("2026-01-05 09:00") // a Monday
	jan31 := schedAt("2026-01-31 09:00")
	const none, daily, weekly, monthly = mailing.PeriodNone, mailing.PeriodDaily, mailing.PeriodWeekly, mailing.PeriodMonthly
	cases := []struct {
		name       string
		period     string
		start, end time.Time
		now        time.Time
		want       time.Time // zero: no slot is due
	}{
		// A one-off mailing is due, at its start, for as long as it runs.
		{"none before start", none, start, start.Add(24 * time.Hour), start.Add(-time.Second), time.Time{}},
		{"none at start", none, start, start.Add(24 * time.Hour), start, start},
		{"none in between", none, start, start.Add(24 * time.Hour), start.Add(23 * time.Hour), start},
		{"none just before end", none, start, start.Add(24 * time.Hour), start.Add(24*time.Hour - time.Nanosecond), start},
		{"none at end", none, start, start.Add(24 * time.Hour), start.Add(24 * time.Hour), time.Time{}},
		{"none after end", none, start, start.Add(24 * time.Hour), start.Add(48 * time.Hour), time.Time{}},
		{"empty period is none", "", start, start.Add(24 * time.Hour), start.Add(time.Hour), start},

		// Daily: the latest slot at or before now.
		{"daily before start", daily, start, start.AddDate(0, 0, 10), start.Add(-time.Minute), time.Time{}},
		{"daily at start", daily, start, start.AddDate(0, 0, 10), start, start},
		{"daily +23h59m", daily, start, start.AddDate(0, 0, 10), start.Add(23*time.Hour + 59*time.Minute), start},
		{"daily +24h", daily, start, start.AddDate(0, 0, 10), start.Add(24 * time.Hour), start.AddDate(0, 0, 1)},
		{"daily +24h01m", daily, start, start.AddDate(0, 0, 10), start.Add(24*time.Hour + time.Minute), start.AddDate(0, 0, 1)},
		{"daily +3d12h", daily, start, start.AddDate(0, 0, 10), start.Add(84 * time.Hour), start.AddDate(0, 0, 3)},
		// A worker that was down for days sends the latest slot only.
		{"daily down for days", daily, start, start.AddDate(0, 0, 10), start.AddDate(0, 0, 7).Add(5 * time.Hour), start.AddDate(0, 0, 7)},
		// End in the middle of a day: the last slot before the end stays due until the end.
		{"daily last slot before end", daily, start, start.AddDate(0, 0, 2).Add(3 * time.Hour), start.AddDate(0, 0, 2).Add(2 * time.Hour), start.AddDate(0, 0, 2)},
		{"daily at end", daily, start, start.AddDate(0, 0, 2).Add(3 * time.Hour), start.AddDate(0, 0, 2).Add(3 * time.Hour), time.Time{}},
		// End exactly at a slot: that slot is never due.
		{"daily end at a slot, just before", daily, start, start.AddDate(0, 0, 3), start.AddDate(0, 0, 3).Add(-time.Nanosecond), start.AddDate(0, 0, 2)},
		{"daily end at a slot, at it", daily, start, start.AddDate(0, 0, 3), start.AddDate(0, 0, 3), time.Time{}},
		{"daily end at a slot, after it", daily, start, start.AddDate(0, 0, 3), start.AddDate(0, 0, 3).Add(time.Minute), time.Time{}},

		// Weekly.
		{"weekly at start", weekly, start, start.AddDate(0, 2, 0), start, start},
		{"weekly 6d23h", weekly, start, start.AddDate(0, 2, 0), start.Add(7*24*time.Hour - time.Minute), start},
		{"weekly 7d", weekly, start, start.AddDate(0, 2, 0), start.AddDate(0, 0, 7), start.AddDate(0, 0, 7)},
		{"weekly 20d", weekly, start, start.AddDate(0, 2, 0), start.AddDate(0, 0, 20), start.AddDate(0, 0, 14)},
		{"weekly end at a slot", weekly, start, start.AddDate(0, 0, 21), start.AddDate(0, 0, 21), time.Time{}},
		{"weekly before end at a slot", weekly, start, start.AddDate(0, 0, 21), start.AddDate(0, 0, 21).Add(-time.Second), start.AddDate(0, 0, 14)},

		// Monthly, by calendar month at the same day and time.
		{"monthly at start", monthly, start, start.AddDate(1, 0, 0), start, start},
		{"monthly same day next month, earlier hour", monthly, start, start.AddDate(1, 0, 0), schedAt("2026-02-05 08:59"), start},
		{"monthly same day next month", monthly, start, start.AddDate(1, 0, 0), schedAt("2026-02-05 09:00"), schedAt("2026-02-05 09:00")},
		{"monthly end of next month", monthly, start, start.AddDate(1, 0, 0), schedAt("2026-02-28 23:00"), schedAt("2026-02-05 09:00")},
		{"monthly across a year", monthly, schedAt("2025-11-20 09:00"), start.AddDate(1, 0, 0), schedAt("2026-01-20 10:00"), schedAt("2026-01-20 09:00")},
		{"monthly across a year, before the day", monthly, schedAt("2025-11-20 09:00"), start.AddDate(1, 0, 0), schedAt("2026-01-19 10:00"), schedAt("2025-12-20 09:00")},
		// A start on the 31st: time.AddDate normalises the missing day, so Jan 31 + 1 month is
		// "Feb 31" = Mar 3 (2026 is not a leap year). February has no slot of its own — the
		// January slot stays due until Mar 3 — then Mar 3, Mar 31, "Apr 31" = May 1, May 31.
		{"monthly Jan 31, Feb 28", monthly, jan31, jan31.AddDate(1, 0, 0), schedAt("2026-02-28 12:00"), jan31},
		{"monthly Jan 31, Mar 2", monthly, jan31, jan31.AddDate(1, 0, 0), schedAt("2026-03-02 12:00"), jan31},
		{"monthly Jan 31, Mar 3 before the hour", monthly, jan31, jan31.AddDate(1, 0, 0), schedAt("2026-03-03 08:00"), jan31},
		{"monthly Jan 31, Mar 3", monthly, jan31, jan31.AddDate(1, 0, 0), schedAt("2026-03-03 09:00"), schedAt("2026-03-03 09:00")},
		{"monthly Jan 31, Mar 30", monthly, jan31, jan31.AddDate(1, 0, 0), schedAt("2026-03-30 09:00"), schedAt("2026-03-03 09:00")},
		{"monthly Jan 31, Mar 31", monthly, jan31, jan31.AddDate(1, 0, 0), schedAt("2026-03-31 09:00"), schedAt("2026-03-31 09:00")},
		{"monthly Jan 31, Apr 30", monthly, jan31, jan31.AddDate(1, 0, 0), schedAt("2026-04-30 09:00"), schedAt("2026-03-31 09:00")},
		{"monthly Jan 31, May 1", monthly, jan31, jan31.AddDate(1, 0, 0), schedAt("2026-05-01 09:00"), schedAt("2026-05-01 09:00")},
		{"monthly Jan 31, May 31", monthly, jan31, jan31.AddDate(1, 0, 0), schedAt("2026-05-31 09:00"), schedAt("2026-05-31 09:00")},
		{"monthly end at a slot", monthly, start, schedAt("2026-03-05 09:00"), schedAt("2026-03-05 09:00"), time.Time{}},
		{"monthly before end at a slot", monthly, start, schedAt("2026-03-05 09:00"), schedAt("2026-03-05 08:59"), schedAt("2026-02-05 09:00")},
		{"monthly before start", monthly, start, start.AddDate(1, 0, 0), start.Add(-time.Hour), time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &mailing.Mailing{StartAt: c.start, EndAt: c.end, Period: c.period}
			slot, ok := mailing.DueSlot(m, c.now)
			if c.want.IsZero() {
				if ok {
					t.Fatalf("DueSlot(%s %s..%s, now %s) = %s, want none", c.period, c.start, c.end, c.now, slot)
				}
				return
			}
			if !ok || !slot.Equal(c.want) {
				t.Fatalf("DueSlot(%s %s..%s, now %s) = %s, %v; want %s", c.period, c.start, c.end, c.now, slot, ok, c.want)
			}
			if slot.Location() != time.UTC {
				t.Errorf("slot %s is not in UTC", slot)
			}
			if slot.After(c.now) || !slot.Before(c.end) || slot.Before(c.start) {
				t.Errorf("slot %s outside [start, now] or not before end", slot)
			}
		})
	}
}

// The slot is an instant: where the caller's times are expressed must not change it, or two
// workers in different zones would start two runs for one period.
func TestDueSlotIgnoresTimeZones(t *testing.T) {
	plus3 := time.FixedZone("UTC+3", 3*3600)
	minus5 := time.FixedZone("UTC-5", -5*3600)
	cases := []struct {
		name       string
		period     string
		start, now time.Time
	}{
		{"daily", mailing.PeriodDaily, schedAt("2026-01-05 22:00"), schedAt("2026-01-09 21:30")},
		{"weekly", mailing.PeriodWeekly, schedAt("2026-01-05 22:00"), schedAt("2026-01-26 23:30")},
		// Feb 1 01:00 UTC is still January at UTC-5: the February slot is due all the same.
		{"monthly, month differs by zone", mailing.PeriodMonthly, schedAt("2026-01-01 00:00"), schedAt("2026-02-01 01:00")},
		{"monthly, start in a zone", mailing.PeriodMonthly, schedAt("2026-01-31 22:00"), schedAt("2026-03-31 23:00")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			end := c.start.AddDate(1, 0, 0)
			want, ok := mailing.DueSlot(&mailing.Mailing{StartAt: c.start, EndAt: end, Period: c.period}, c.now)
			if !ok {
				t.Fatalf("no slot due in UTC")
			}
			for _, loc := range []*time.Location{plus3, minus5} {
				m := &mailing.Mailing{StartAt: c.start.In(loc), EndAt: end.In(loc), Period: c.period}
				for _, now := range []time.Time{c.now, c.now.In(loc)} {
					got, ok := mailing.DueSlot(m, now)
					if !ok || !got.Equal(want) {
						t.Errorf("start in %s, now %s: slot %s, %v; want %s as in UTC", loc, now, got, ok, want)
					}
				}
				m.StartAt, m.EndAt = c.start, end
				got, ok := mailing.DueSlot(m, c.now.In(loc))
				if !ok || !got.Equal(want) {
					t.Errorf("now in %s (%s): slot %s, %v; want %s as in UTC", loc, c.now.In(loc), got, ok, want)
				}
			}
		})
	}
	// The UTC answer itself: Feb 1 00:00 is due at Feb 1 01:00.
	m := &mailing.Mailing{StartAt: schedAt("2026-01-01 00:00"), EndAt: schedAt("2027-01-01 00:00"), Period: mailing.PeriodMonthly}
	if got, ok := mailing.DueSlot(m, schedAt("2026-02-01 01:00")); !ok || !got.Equal(schedAt("2026-02-01 00:00")) {
		t.Fatalf("monthly in UTC: %s, %v", got, ok)
	}
}

func TestUnsubscribeToken(t *testing.T) {
	secret := []byte("secret-one-0123456789abcdef")
	for _, id := range []int64{1, 42, 1 << 40} {
		tok := mailing.UnsubscribeToken(secret, id)
		if strings.ContainsAny(tok, "/+=?#& ") {
			t.Errorf("token %q is not URL-path safe", tok)
		}
		if tok != mailing.UnsubscribeToken(secret, id) {
			t.Errorf("token of %d is not stable", id)
		}
		got, ok := mailing.ParseUnsubscribeToken(secret, tok)
		if !ok || got != id {
			t.Errorf("ParseUnsubscribeToken(%q) = %d, %v; want %d", tok, got, ok, id)
		}
	}
	if mailing.UnsubscribeToken(secret, 1) == mailing.UnsubscribeToken(secret, 2) {
		t.Fatal("two clients share a token")
	}

	tok := mailing.UnsubscribeToken(secret, 42)
	_, sig, _ := strings.Cut(tok, ".")
	other := mailing.UnsubscribeToken(secret, 43)
	_, otherSig, _ := strings.Cut(other, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	refused := map[string]string{
		"another id, same signature":  "43." + sig,
		"own id, another's signature": "42." + otherSig,
		"first signature byte":        "42." + flip(sig, 0),
		"last signature byte":         "42." + flip(sig, len(sig)-1),
		"truncated signature":         "42." + sig[:len(sig)-1],
		"longer signature":            tok + "A",
		"no signature":                "42.",
		"no dot":                      "42" + sig,
		"only the id":                 "42",
		"empty":                       "",
		"leading zero":                "042." + sig,
		"plus sign":                   "+42." + sig,
		"negative id":                 "-42." + sig,
		"zero id":                     "0." + sig,
		"not a number":                "x." + sig,
		"another secret":              mailing.UnsubscribeToken([]byte("secret-two-0123456789abcdef"), 42),
		"empty secret":                mailing.UnsubscribeToken(nil, 42),
		"trailing slash":              tok + "/",
	}
	for name, bad := range refused {
		if id, ok := mailing.ParseUnsubscribeToken(secret, bad); ok {
			t.Errorf("%s: token %q accepted as client %d", name, bad, id)
		}
	}
	// A token signed with another secret is valid only under that secret.
	if id, ok := mailing.ParseUnsubscribeToken([]byte("secret-two-0123456789abcdef"), refused["another secret"]); !ok || id != 42 {
		t.Fatalf("token under its own secret: %d, %v", id, ok)
	}
}
