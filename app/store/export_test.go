package store

import "testing"

// SetSearchFew lowers the number of matches a client search sorts itself, so a small
// fixture exercises every plan.
func SetSearchFew(t testing.TB, n int) {
	old := searchFew
	searchFew = n
	t.Cleanup(func() { searchFew = old })
}
