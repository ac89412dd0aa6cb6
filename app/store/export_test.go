package store

import "testing"

// SetSearchFew lowers the number of matches a client search sorts itself, so a small
// fixture exercises every plan.
func SetSearchFew(t testing.TB, n int) {
	old := searchFew
	searchFew = n
	t.Cleanup(func() { searchFew = old })
}

// TracePrepared calls fn with each prepared statement s runs (see tracePrepared).
func TracePrepared(s *Store, fn func(query string, args []any)) { s.tracePrepared = fn }

// DollarPlaceholders is dollarPlaceholders, for a test that prepares a statement itself.
func DollarPlaceholders(q string) string { return dollarPlaceholders(q) }

// SetDeliveryChunk lowers the recipients CreateRun writes per statement, so a small
// audience is written in several chunks.
func SetDeliveryChunk(t testing.TB, n int) {
	old := deliveryChunk
	deliveryChunk = n
	t.Cleanup(func() { deliveryChunk = old })
}
