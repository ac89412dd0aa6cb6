package mailing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// DueSlot returns the latest schedule slot of m that is due at now: the first send time,
// then every repeat period after it, while before the end. ok is false when no slot is due
// (not started yet, or finished). Only the latest slot counts: a worker that was down for
// three days sends a daily mailing once, not three times.
func DueSlot(m *Mailing, now time.Time) (slot time.Time, ok bool) {
	// Slots are counted in UTC, whatever zone the times arrive in.
	now = now.UTC()
	if now.Before(m.StartAt) || !m.EndAt.After(now) {
		return time.Time{}, false
	}
	start := m.StartAt.UTC()
	var step func(k int) time.Time
	var k int
	switch m.Period {
	case PeriodDaily:
		k = int(now.Sub(start) / (24 * time.Hour))
		step = func(k int) time.Time { return start.AddDate(0, 0, k) }
	case PeriodWeekly:
		k = int(now.Sub(start) / (7 * 24 * time.Hour))
		step = func(k int) time.Time { return start.AddDate(0, 0, 7*k) }
	case PeriodMonthly:
		k = (now.Year()-start.Year())*12 + int(now.Month()-start.Month())
		step = func(k int) time.Time { return start.AddDate(0, k, 0) }
	default:
		return start, true
	}
	// Calendar steps may overshoot now by a day or so; step back until due.
	for k > 0 && step(k).After(now) {
		k--
	}
	slot = step(k)
	if !slot.Before(m.EndAt) {
		return time.Time{}, false
	}
	return slot, true
}

// UnsubscribeToken is the secret part of a client's one-click unsubscribe link. It is an
// HMAC of the client id, so links cannot be guessed or moved to another client.
func UnsubscribeToken(secret []byte, clientID int64) string {
	id := strconv.FormatInt(clientID, 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("unsubscribe|" + id))
	return id + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// ParseUnsubscribeToken returns the client id of a valid token.
func ParseUnsubscribeToken(secret []byte, token string) (int64, bool) {
	idPart, _, ok := strings.Cut(token, ".")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(idPart, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	want := UnsubscribeToken(secret, id)
	return id, hmac.Equal([]byte(want), []byte(token))
}
