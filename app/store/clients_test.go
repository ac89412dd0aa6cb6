package store_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"mailer/app/mailing"
	"mailer/app/store"
)

// Client search chooses its plan per prefix (the prefix's own index, matches fetched and
// sorted, or the sort's index walked and filtered). Whatever the plan, every page, walked
// forward and back, must be exactly the owner's matches in the asked order.
func TestClientSearchPagesAreTheMatchesInOrderUnderEveryPlan(t *testing.T) {
	f := newFixture(t)
	store.SetSearchFew(t, 40) // 150 name matches of "anna" take the walk, 13 of "anton1" the sort
	a, b := f.user(t, "a@example.com"), f.user(t, "b@example.com")
	var all []mailing.Client
	add := func(owner int64, email, name string) {
		c := &mailing.Client{OwnerID: owner, Email: email, FullName: name}
		c.Validate()
		if err := f.st.CreateClient(f.ctx, c); err != nil {
			t.Fatal(err)
		}
		all = append(all, *c)
	}
	emailPrefixes := []string{"ann", "bob", "anton"}
	for i := range 300 {
		name := fmt.Sprintf("Boris %03d", i)
		if i%2 == 0 {
			name = fmt.Sprintf("Anna Smith %03d", i)
		}
		add(a, fmt.Sprintf("%s%03d@x.example", emailPrefixes[i%3], i), name)
		if i%7 == 0 { // runs of equal created_at, so ties are broken by id
			f.clock.Advance(time.Second)
		}
	}
	for i := range 20 {
		add(b, fmt.Sprintf("ann%03d@b.example", i), "Anna Other")
	}

	type sortSpec struct {
		name string
		desc bool
	}
	sorts := []sortSpec{{"", false}, {"email", false}, {"email", true}, {"name", false}, {"name", true}, {"created", false}, {"created", true}}
	less := func(s sortSpec) func(x, y mailing.Client) int {
		return func(x, y mailing.Client) int {
			var c int
			switch s.name {
			case "name":
				c = strings.Compare(x.NameLC, y.NameLC)
			case "created":
				c = x.CreatedAt.Compare(y.CreatedAt)
			default:
				c = strings.Compare(x.Email, y.Email)
			}
			if c == 0 {
				c = int(x.ID - y.ID)
			}
			if s.desc {
				c = -c
			}
			return c
		}
	}
	scopes := map[string]mailing.Scope{"owner": {UserID: a}, "manager": {All: true}}
	for _, term := range []string{"an", "anna", "ANNA S", "anton1", "b", "bob29", "zzz"} {
		for scopeName, scope := range scopes {
			var want []mailing.Client
			q := strings.ToLower(term)
			for _, c := range all {
				if (scope.All || c.OwnerID == a) && (strings.HasPrefix(c.Email, q) || strings.HasPrefix(c.NameLC, q)) {
					want = append(want, c)
				}
			}
			for _, s := range sorts {
				name := fmt.Sprintf("%s/%q/%s-desc=%v", scopeName, term, s.name, s.desc)
				slices.SortFunc(want, less(s))
				p := mailing.ListParams{Q: term, Sort: s.name, Desc: s.desc, Limit: 9}
				var pages [][]int64
				var prevs []string
				for {
					page, err := f.st.ListClients(f.ctx, scope, p)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					pages = append(pages, ids(page.Items))
					prevs = append(prevs, page.Prev)
					if page.Next == "" {
						break
					}
					p.Cursor, p.Back = page.Next, false
					if len(pages) > 100 {
						t.Fatalf("%s: pages never end", name)
					}
				}
				if got := slices.Concat(pages...); !slices.Equal(got, ids(want)) {
					t.Fatalf("%s: forward pages\n got %v\nwant %v", name, got, ids(want))
				}
				// A page's "previous" cursor must lead to exactly the page seen before it.
				if prevs[0] != "" {
					t.Fatalf("%s: the first page has a previous page", name)
				}
				for i := len(pages) - 1; i > 0; i-- {
					page, err := f.st.ListClients(f.ctx, scope, mailing.ListParams{Q: term, Sort: s.name, Desc: s.desc, Limit: 9, Cursor: prevs[i], Back: true})
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(ids(page.Items), pages[i-1]) {
						t.Fatalf("%s: page %d going back\n got %v\nwant %v", name, i-1, ids(page.Items), pages[i-1])
					}
				}
			}
		}
	}
}

func ids(cs []mailing.Client) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}
