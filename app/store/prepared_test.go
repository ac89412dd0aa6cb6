package store_test

import (
	"reflect"
	"testing"
	"time"

	"mailer/app/mailing"
)

// The hot queries (the session's user, the clients list) name their columns and read
// times as text instead of letting Bun select "*". Each must still fill every field the
// ordinary query fills, with the same values; a column added to the table and forgotten
// in the list fails here.
func TestHandWrittenColumnListsReadWhatBunReads(t *testing.T) {
	f := newFixture(t)
	owner := f.user(t, "owner@example.com")
	if err := f.st.ConfirmUser(f.ctx, owner); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateSession(f.ctx, "sess-1", owner, time.Hour); err != nil {
		t.Fatal(err)
	}
	want, err := f.st.UserByID(f.ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.st.SessionUser(f.ctx, "sess-1")
	if err != nil {
		t.Fatal(err)
	}
	if want.ConfirmedAt == nil {
		t.Fatal("fixture: the user should be confirmed")
	}
	sameFields(t, "session user", *got, *want)

	c := &mailing.Client{OwnerID: owner, Email: "c@example.com", FullName: "Cleo Client", Comment: "a comment"}
	c.Validate()
	if err := f.st.CreateClient(f.ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Unsubscribe(f.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	for _, scope := range []mailing.Scope{{UserID: owner}, {All: true}} {
		wantC, err := f.st.ClientByID(f.ctx, scope, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if wantC.UnsubscribedAt == nil {
			t.Fatal("fixture: the client should be unsubscribed")
		}
		for _, p := range []mailing.ListParams{{}, {Sort: "created"}, {Q: "cleo"}, {Q: "c@"}} {
			page, err := f.st.ListClients(f.ctx, scope, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) != 1 {
				t.Fatalf("%+v %+v: %d clients, want 1", scope, p, len(page.Items))
			}
			// A list leaves updated_at out: no list shows it.
			sameFields(t, "listed client", page.Items[0], *wantC, "UpdatedAt")
		}
	}
}

// sameFields fails t unless a and b (structs of one type) agree on every field but skip,
// times compared as instants.
func sameFields(t *testing.T, what string, a, b any, skip ...string) {
	t.Helper()
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
fields:
	for i := range va.NumField() {
		name := va.Type().Field(i).Name
		for _, s := range skip {
			if s == name {
				continue fields
			}
		}
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		switch x := fa.(type) {
		case time.Time:
			if y := fb.(time.Time); !x.Equal(y) || x.IsZero() {
				t.Errorf("%s: %s = %v, want %v (and not zero)", what, name, x, y)
			}
		case *time.Time:
			y := fb.(*time.Time)
			if (x == nil) != (y == nil) || x != nil && !x.Equal(*y) {
				t.Errorf("%s: %s = %v, want %v", what, name, x, y)
			}
		default:
			if !reflect.DeepEqual(fa, fb) {
				t.Errorf("%s: %s = %#v, want %#v", what, name, fa, fb)
			}
		}
	}
}
