package mailing

import "time"

// Clock is the only source of "now" in the application, so tests can move time.
type Clock interface {
	Now() time.Time
}

// SystemClock reads the real time, in UTC.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC() }
