package components

import (
	"net/url"
	"slices"
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
	// Filters are any further filters, by query parameter (the users list's role).
	Filters map[string]string
	Next    string
	Prev    string
	// Target is the element that sorting and paging replace, "#list" when empty; only
	// the page's main list puts its state in the address bar.
	Target string
	// Label names the list's pager when a page has more than one list (landmarks must
	// differ); "Pages" when empty.
	Label string
	// Counted says Total is known: the list shows "From–To of Total". From is the
	// position of the page's first item (1-based), Shown how many the page shows, Limit
	// a page's size. A keyset page does not know its position, so the links carry it
	// (at=); the first and last pages know it for sure.
	Counted            bool
	Total, From, Shown int
	Limit              int
}

// Count records the list's total and the page's place in it: at is the position the link
// to this page carried (0 when none).
func (l *ListState) Count(total, at, shown, limit int) {
	l.Counted, l.Total, l.Shown, l.Limit = true, total, shown, limit
	switch {
	case l.Prev == "":
		at = 1
	case l.Next == "" || at+shown-1 > total:
		at = total - shown + 1 // the last page ends at the total
	}
	l.From = max(at, 1)
}

// To is the position of the page's last item.
func (l ListState) To() int { return l.From + l.Shown - 1 }

func (l ListState) values() url.Values {
	v := url.Values{}
	if l.Q != "" {
		v.Set("q", l.Q)
	}
	for k, val := range l.Filters {
		if val != "" {
			v.Set(k, val)
		}
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
	if l.Counted {
		v.Set("at", strconv.Itoa(l.From+l.Shown))
	}
	return l.url(v)
}

func (l ListState) PrevURL() string {
	v := l.values()
	v.Set("before", l.Prev)
	if l.Counted && l.Limit > 0 {
		v.Set("at", strconv.Itoa(max(l.From-l.Limit, 1)))
	}
	return l.url(v)
}

// SortedKey is the translation key naming the sort ("by email"), and OrderKey the one
// naming its direction: A to Z for text, oldest or newest first for dates.
func (l ListState) SortedKey() string { return "list.sorted." + l.Sort }

func (l ListState) OrderKey() string {
	alpha := l.Sort == "email" || l.Sort == "name" || l.Sort == "subject"
	switch {
	case alpha && l.Desc:
		return "list.order.za"
	case alpha:
		return "list.order.az"
	case l.Desc:
		return "list.order.newest"
	}
	return "list.order.oldest"
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

func (l ListState) target() string {
	if l.Target == "" {
		return "#list"
	}
	return l.Target
}

func (l ListState) pushURL() string { return strconv.FormatBool(l.Target == "") }

// hidden are the list's state that a filter form carries without showing it: the sort,
// and the filters it has no control for (controls names those it has).
func (l ListState) hidden(controls []string) [][2]string {
	var out [][2]string
	v := l.values()
	for _, k := range []string{"q", "sort", "desc", "status"} {
		if val := v.Get(k); val != "" && !slices.Contains(controls, k) {
			out = append(out, [2]string{k, val})
		}
	}
	for k, val := range l.Filters {
		if val != "" && !slices.Contains(controls, k) {
			out = append(out, [2]string{k, val})
		}
	}
	return out
}

// FilterMenu is a select that filters a list; its first option is usually "all" ("").
type FilterMenu struct {
	Name    string // the query parameter
	Label   string
	Value   string
	Options []Option
}

// Option is one choice of a FilterMenu.
type Option struct{ Value, Label string }
