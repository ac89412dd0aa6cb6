package store

import (
	"testing"
	"time"
	"unicode/utf8"
)

// A list cursor comes back from the browser in the query string, so any bytes may arrive:
// decoding must never panic, must refuse what it did not make, and must give back exactly
// what encodeCursor wrote.
func FuzzDecodeCursor(f *testing.F) {
	f.Add("", "client000001@bench.example", int64(1), int64(0))
	f.Add("eyJ2IjoiY2xpZW50MDA0OTk5QGJlbmNoLmV4YW1wbGUiLCJpZCI6NTAwMH0", "a", int64(5000), int64(1700000000))
	f.Add("eyJ2IjoxLCJpZCI6Mn0", "ünïcödé", int64(-1), int64(-62135596800))
	f.Add("not base64!", "", int64(0), int64(253402300799))
	f.Add("eyJ2IjpudWxsfQ", "\x00", int64(9223372036854775807), int64(1))
	f.Fuzz(func(t *testing.T, raw, v string, id, unix int64) {
		for _, kind := range []string{"string", "time", "int"} {
			got, _, ok := decodeCursor(raw, kind)
			if ok && got == nil {
				t.Fatalf("decodeCursor(%q, %s) accepted a cursor without a value", raw, kind)
			}
		}

		if utf8.ValidString(v) {
			got, gotID, ok := decodeCursor(encodeCursor(v, id), "string")
			if !ok || got != v || gotID != id {
				t.Fatalf("string cursor (%q, %d) came back as (%v, %d, %v)", v, id, got, gotID, ok)
			}
		}
		got, gotID, ok := decodeCursor(encodeCursor(id, 7), "int")
		if !ok || got != id || gotID != 7 {
			t.Fatalf("int cursor %d came back as (%v, %d, %v)", id, got, gotID, ok)
		}
		// Times a list can hold: years 1–9999, at nanosecond precision, any zone.
		if unix >= -62135596800 && unix <= 253402300799 {
			tm := time.Unix(unix, id%1_000_000_000).In(time.FixedZone("x", int(id%50_000)))
			if tm.Year() >= 1 && tm.Year() <= 9999 {
				got, _, ok := decodeCursor(encodeCursor(tm, id), "time")
				if !ok || !got.(time.Time).Equal(tm) || got.(time.Time).Location() != time.UTC {
					t.Fatalf("time cursor %v came back as (%v, %v)", tm, got, ok)
				}
			}
		}
	})
}
