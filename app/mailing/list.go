package mailing

// Scope says whose data a query may see: one owner's, or, for a manager's reads, everyone's.
type Scope struct {
	UserID int64
	All    bool
}

// ListParams are the search, sort and page of a list.
type ListParams struct {
	Q      string
	Sort   string // a column the list allows; the list's default when empty or unknown
	Desc   bool
	Cursor string // opaque position from a previous page
	Back   bool   // the page before Cursor rather than after
	Limit  int
	Status string // mailings only: filter by derived status; suppressions: by reason
	Tag    string // clients only: those carrying this tag
}

// Page is one page of a keyset-paginated list.
type Page[T any] struct {
	Items []T
	Next  string // cursor of the next page, "" on the last
	Prev  string // cursor of the previous page, "" on the first
	// Sort and Desc are the order the list applied: the one asked for, or the list's
	// default when the request named none or one the list does not offer.
	Sort string
	Desc bool
}
