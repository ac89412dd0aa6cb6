package components

import (
	"net/url"
	"strconv"
)

// ListState is what a list page shows and how to get elsewhere from it: the search, the
// sort, and the cursors of the neighbouring pages.
type ListState struct {
	Base   string // the list's path, e.g. /clients
	Q      string
	Sort   string
	Desc   bool
	Status string // an extra filter some lists have
	Next   string
	Prev   string
}

func (l ListState) values() url.Values {
	v := url.Values{}
	if l.Q != "" {
		v.Set("q", l.Q)
	}
	if l.Sort != "" {
		v.Set("sort", l.Sort)
	}
	if l.Desc {
		v.Set("desc", "1")
	}
	if l.Status != "" {
		v.Set("status", l.Status)
	}
	return v
}

func (l ListState) url(v url.Values) string {
	if len(v) == 0 {
		return l.Base
	}
	return l.Base + "?" + v.Encode()
}

// SortURL is the list sorted by key: ascending first, toggled when already sorted by it.
func (l ListState) SortURL(key string) string {
	v := l.values()
	v.Set("sort", key)
	if l.Sort == key && !l.Desc {
		v.Set("desc", "1")
	} else {
		v.Del("desc")
	}
	return l.url(v)
}

// NextURL and PrevURL move one page, keeping the search and sort.
func (l ListState) NextURL() string {
	v := l.values()
	v.Set("after", l.Next)
	return l.url(v)
}

func (l ListState) PrevURL() string {
	v := l.values()
	v.Set("before", l.Prev)
	return l.url(v)
}

// SortMark shows the direction next to the active column.
func (l ListState) SortMark(key string) string {
	if l.Sort != key {
		return ""
	}
	if l.Desc {
		return " ↓"
	}
	return " ↑"
}

// AriaSort is the column's aria-sort value.
func (l ListState) AriaSort(key string) string {
	if l.Sort != key {
		return "none"
	}
	if l.Desc {
		return "descending"
	}
	return "ascending"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
