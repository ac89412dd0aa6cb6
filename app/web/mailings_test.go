package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailer/app/mailing"
	"mailer/app/testutil"
)

// userID reads an account's id.
func userID(t *testing.T, srv *testutil.Server, email string) int64 {
	t.Helper()
	var id int64
	if err := srv.App.Store.DB.NewSelect().TableExpr("users").Column("id").Where("email = ?", email).Scan(context.Background(), &id); err != nil {
		t.Fatal(err)
	}
	return id
}

// seedMessage stores a message of ownerID (the messages pages are not what is tested here).
func seedMessage(t *testing.T, srv *testutil.Server, ownerID int64, subject string) string {
	t.Helper()
	m := &mailing.Message{OwnerID: ownerID, Subject: subject, Body: "Hello {{.Name}}"}
	m.Validate()
	if err := srv.App.Store.CreateMessage(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(m.ID, 10)
}

func seedClient(t *testing.T, srv *testutil.Server, ownerID int64, email, name string) string {
	t.Helper()
	c := &mailing.Client{OwnerID: ownerID, Email: email, FullName: name}
	c.Validate()
	if err := srv.App.Store.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(c.ID, 10)
}

// mailingForm is a valid form: one message, the given recipients, March 2026.
func mailingForm(msg string, clients ...string) url.Values {
	return url.Values{"message_id": {msg}, "start_at": {"2026-03-01T12:00"}, "end_at": {"2026-03-31T12:00"},
		"period": {"daily"}, "client_ids": clients}
}

// ownMailings lists the mailings of ownerID straight from the store.
func ownMailings(t *testing.T, srv *testutil.Server, ownerID int64) []mailing.Mailing {
	t.Helper()
	p, err := srv.App.Store.ListMailings(context.Background(), mailing.Scope{UserID: ownerID}, mailing.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return p.Items
}

func mailingByID(t *testing.T, srv *testutil.Server, id string) *mailing.Mailing {
	t.Helper()
	n, _ := strconv.ParseInt(id, 10, 64)
	m, err := srv.App.Store.MailingByID(context.Background(), mailing.Scope{All: true}, n)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMailingCreateListViewEditDelete(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "a@example.com", false)
	uid := userID(t, srv, "a@example.com")

	// Without messages the form says so and links to writing one.
	if r := a.get("/mailings/new"); r.StatusCode != 200 || !strings.Contains(r.Body, `href="/messages/new"`) || strings.Contains(r.Body, `name="message_id"`) {
		t.Fatalf("form without messages: %d %.500s", r.StatusCode, r.Body)
	}
	if r := a.get("/mailings"); !strings.Contains(r.Body, "No mailings yet") {
		t.Fatal("empty state missing")
	}
	msg := seedMessage(t, srv, uid, "Spring sale")
	ann := seedClient(t, srv, uid, "ann@example.com", "Ann")
	bob := seedClient(t, srv, uid, "bob@example.com", "Bob")

	r := a.get("/mailings/new")
	for _, want := range []string{`name="message_id"`, `value="` + msg + `"`, "Spring sale", `type="datetime-local"`, `name="period"`,
		`name="all_clients"`, `name="client_ids" value="` + ann + `"`, `hx-get="/mailings/recipients"`} {
		if !strings.Contains(r.Body, want) {
			t.Fatalf("form lacks %s: %.2000s", want, r.Body)
		}
	}

	r = a.post("/mailings/new", mailingForm(msg, ann, bob))
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %.1000s", r.StatusCode, r.Body)
	}
	list := a.get("/mailings")
	for _, want := range []string{"Spring sale", "Mailing created.", `class="badge badge-created"`, ">Created<", "Daily", "2026-03-01 12:00", "2026-03-31 12:00"} {
		if !strings.Contains(list.Body, want) {
			t.Fatalf("list lacks %q: %.3000s", want, list.Body)
		}
	}
	id := createdID(t, list.Body, "mailings")
	if !strings.Contains(list.Body, `/mailings/`+id+`/edit`) || !strings.Contains(list.Body, `/mailings/`+id+`/delete`) {
		t.Fatal("owner is not offered edit and delete")
	}
	if m := mailingByID(t, srv, id); m.Recipients != 2 || m.Period != mailing.PeriodDaily || m.OwnerID != uid {
		t.Fatalf("stored mailing: %+v", m)
	}

	// The mailing page: message link, recipients, an empty attempts section, owner controls.
	v := a.get("/mailings/" + id)
	for _, want := range []string{`href="/messages/` + msg + `"`, "ann@example.com", "bob@example.com", `id="attempts"`,
		"No send attempts yet.", `/mailings/` + id + `/edit`, "badge-created"} {
		if !strings.Contains(v.Body, want) {
			t.Fatalf("view lacks %q: %.3000s", want, v.Body)
		}
	}

	// Edit: the form comes back filled in, with the recipients checked.
	e := a.get("/mailings/" + id + "/edit")
	if !strings.Contains(e.Body, `value="2026-03-01T12:00"`) || !strings.Contains(e.Body, `value="`+msg+`" selected`) ||
		!strings.Contains(e.Body, `name="client_ids" value="`+bob+`" checked`) {
		t.Fatalf("edit form: %.3000s", e.Body)
	}
	f := mailingForm(msg, ann)
	f.Set("period", "weekly")
	if r := a.post("/mailings/"+id+"/edit", f); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d %.1000s", r.StatusCode, r.Body)
	}
	if m := mailingByID(t, srv, id); m.Recipients != 1 || m.Period != mailing.PeriodWeekly {
		t.Fatalf("edit not saved: %+v", m)
	}

	// Delete: the confirmation page without JavaScript, in place with HTMX.
	if r := a.get("/mailings/" + id + "/delete"); r.StatusCode != 200 || !strings.Contains(r.Body, `action="/mailings/`+id+`/delete"`) {
		t.Fatalf("delete confirmation: %d", r.StatusCode)
	}
	r = a.post("/mailings/"+id+"/delete", nil, "HX-Request", "true")
	if r.StatusCode != 200 || !strings.Contains(r.Body, "deleted") || strings.Contains(r.Body, "<tr") {
		t.Fatalf("htmx delete: %d %q", r.StatusCode, r.Body)
	}
	if r := a.get("/mailings/" + id); r.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted mailing still there: %d", r.StatusCode)
	}
}

func TestMailingFormValidation(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "v@example.com", false)
	uid := userID(t, srv, "v@example.com")
	msg := seedMessage(t, srv, uid, "Weekly news")
	ann := seedClient(t, srv, uid, "ann@example.com", "Ann")

	// The end before the first send: a field error in place (HTMX), the input kept.
	f := mailingForm(msg, ann)
	f.Set("end_at", "2026-02-01T12:00")
	r := a.post("/mailings/new", f, "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || strings.Contains(r.Body, "<html") ||
		!strings.Contains(r.Body, `id="e-end_at"`) || !strings.Contains(r.Body, "The end must be after the first send.") {
		t.Fatalf("end before start: %d %.1500s", r.StatusCode, r.Body)
	}
	for _, want := range []string{`value="2026-03-01T12:00"`, `value="2026-02-01T12:00"`, `value="` + msg + `" selected`,
		`name="client_ids" value="` + ann + `" checked`, `value="daily" selected`} {
		if !strings.Contains(r.Body, want) {
			t.Fatalf("the form lost %s: %.3000s", want, r.Body)
		}
	}
	// The same without HTMX: the whole page with the errors.
	if r := a.post("/mailings/new", f); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "<html") ||
		!strings.Contains(r.Body, "The end must be after the first send.") {
		t.Fatalf("full page error: %d", r.StatusCode)
	}

	f = mailingForm(msg, ann)
	f.Set("period", "yearly")
	if r := a.post("/mailings/new", f); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="e-period"`) ||
		!strings.Contains(r.Body, "Choose a repeat period from the list.") {
		t.Fatalf("unknown period: %d %.1500s", r.StatusCode, r.Body)
	}

	f = mailingForm(msg, ann)
	f.Set("start_at", "tomorrow")
	if r := a.post("/mailings/new", f); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="e-start_at"`) ||
		!strings.Contains(r.Body, "Enter a date and time.") || !strings.Contains(r.Body, `value="tomorrow"`) {
		t.Fatalf("bad datetime: %d %.1500s", r.StatusCode, r.Body)
	}

	f = mailingForm(msg)
	if r := a.post("/mailings/new", f); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="e-client_ids"`) ||
		!strings.Contains(r.Body, "Choose at least one recipient") {
		t.Fatalf("no recipients: %d %.1500s", r.StatusCode, r.Body)
	}

	f = mailingForm("", ann)
	if r := a.post("/mailings/new", f); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="e-message_id"`) {
		t.Fatalf("no message: %d", r.StatusCode)
	}
	if n := len(ownMailings(t, srv, uid)); n != 0 {
		t.Fatalf("%d mailings saved from invalid forms", n)
	}

	// An empty period means sending once.
	f = mailingForm(msg, ann)
	f.Set("period", "")
	if r := a.post("/mailings/new", f); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("empty period: %d %.1500s", r.StatusCode, r.Body)
	}
	ms := ownMailings(t, srv, uid)
	if len(ms) != 1 || ms[0].Period != mailing.PeriodNone {
		t.Fatalf("empty period stored as %+v", ms)
	}
	if r := a.get("/mailings"); !strings.Contains(r.Body, "Once") {
		t.Fatal("the list does not show the period none as Once")
	}
}

func TestMailingRefusesAnotherOwnersMessageAndClients(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "a@example.com", false)
	aid := userID(t, srv, "a@example.com")
	account(t, srv, "b@example.com", false)
	bid := userID(t, srv, "b@example.com")
	msgA := seedMessage(t, srv, aid, "Mine")
	annA := seedClient(t, srv, aid, "ann@example.com", "")
	msgB := seedMessage(t, srv, bid, "Theirs")
	annB := seedClient(t, srv, bid, "secret@example.com", "")

	// Another owner's client smuggled in beside one's own.
	r := a.post("/mailings/new", mailingForm(msgA, annA, annB), "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="e-client_ids"`) ||
		!strings.Contains(r.Body, "Choose from your own list.") || strings.Contains(r.Body, "secret@example.com") {
		t.Fatalf("another owner's client: %d %.2000s", r.StatusCode, r.Body)
	}
	// Another owner's message.
	r = a.post("/mailings/new", mailingForm(msgB, annA), "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="e-message_id"`) ||
		!strings.Contains(r.Body, "Choose from your own list.") || strings.Contains(r.Body, "Theirs") {
		t.Fatalf("another owner's message: %d %.2000s", r.StatusCode, r.Body)
	}
	// Both at once.
	r = a.post("/mailings/new", mailingForm(msgB, annB))
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="e-message_id"`) || !strings.Contains(r.Body, `id="e-client_ids"`) {
		t.Fatalf("both: %d", r.StatusCode)
	}
	// A client id that is not a number.
	r = a.post("/mailings/new", mailingForm(msgA, annA, "x"))
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="e-client_ids"`) {
		t.Fatalf("not a number: %d", r.StatusCode)
	}
	if n := len(ownMailings(t, srv, aid)); n != 0 {
		t.Fatalf("%d mailings saved with another owner's ids", n)
	}

	// Editing one's own mailing cannot smuggle them in either.
	if r := a.post("/mailings/new", mailingForm(msgA, annA)); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", r.StatusCode)
	}
	id := strconv.FormatInt(ownMailings(t, srv, aid)[0].ID, 10)
	if r := a.post("/mailings/"+id+"/edit", mailingForm(msgB, annA, annB)); r.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(r.Body, `id="e-message_id"`) || !strings.Contains(r.Body, `id="e-client_ids"`) {
		t.Fatalf("edit smuggling: %d", r.StatusCode)
	}
	if m := mailingByID(t, srv, id); strconv.FormatInt(m.MessageID, 10) != msgA || m.Recipients != 1 {
		t.Fatalf("the mailing changed: %+v", m)
	}

	// The recipients search offers one's own clients only.
	r = a.get("/mailings/recipients?q=", "HX-Request", "true")
	if !strings.Contains(r.Body, `value="`+annA+`"`) || strings.Contains(r.Body, "secret@example.com") || strings.Contains(r.Body, "<html") {
		t.Fatalf("recipients search: %.1000s", r.Body)
	}
}

func TestMailingToAllClientsAndRecipientSearch(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "all@example.com", false)
	uid := userID(t, srv, "all@example.com")
	msg := seedMessage(t, srv, uid, "For everyone")
	ids := map[string]string{}
	for _, e := range []string{"ann@example.com", "anna@example.com", "bob@example.com"} {
		ids[e] = seedClient(t, srv, uid, e, "")
	}
	other := account(t, srv, "other@example.com", false)
	_ = other
	seedClient(t, srv, userID(t, srv, "other@example.com"), "not-mine@example.com", "")

	// The search: prefix matches, minus those already chosen.
	r := a.get("/mailings/recipients?q=ann&client_ids="+ids["anna@example.com"], "HX-Request", "true")
	if !strings.Contains(r.Body, `id="recipient-results"`) || !strings.Contains(r.Body, `name="client_ids" value="`+ids["ann@example.com"]+`"`) ||
		strings.Contains(r.Body, "anna@example.com") || strings.Contains(r.Body, "bob@example.com") {
		t.Fatalf("search: %.1500s", r.Body)
	}
	// Without JavaScript, "find" posts the form back: the matches, and the choices kept.
	f := mailingForm(msg, ids["bob@example.com"])
	f.Set("q", "an")
	f.Set("find", "1")
	r = a.post("/mailings/new", f)
	if r.StatusCode != 200 || !strings.Contains(r.Body, `name="client_ids" value="`+ids["bob@example.com"]+`" checked`) ||
		!strings.Contains(r.Body, "anna@example.com") || !strings.Contains(r.Body, `value="2026-03-01T12:00"`) {
		t.Fatalf("find without JavaScript: %d %.3000s", r.StatusCode, r.Body)
	}
	if n := len(ownMailings(t, srv, uid)); n != 0 {
		t.Fatal("find saved the mailing")
	}

	f = mailingForm(msg)
	f.Set("all_clients", "1")
	if r := a.post("/mailings/new", f); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("all clients: %d %.1500s", r.StatusCode, r.Body)
	}
	ms := ownMailings(t, srv, uid)
	if len(ms) != 1 || ms[0].Recipients != 3 {
		t.Fatalf("all clients: %+v", ms)
	}
	if r := a.get("/mailings"); !strings.Contains(r.Body, `class="recipients-count">3</td>`) {
		t.Fatal("the list does not show 3 recipients")
	}
}

func TestMailingTimesAreInTheUsersTimezone(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	ctx := context.Background()
	e := "moscow@example.com"
	a := account(t, srv, e, false)
	if _, err := srv.App.Store.DB.NewUpdate().TableExpr("users").Set("timezone = ?", "Europe/Moscow").Where("email = ?", e).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	uid := userID(t, srv, e)
	msg := seedMessage(t, srv, uid, "Morning news")
	cl := seedClient(t, srv, uid, "ann@example.com", "")

	f := mailingForm(msg, cl)
	f.Set("end_at", "2026-03-02T00:30")
	if r := a.post("/mailings/new", f); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %.1500s", r.StatusCode, r.Body)
	}
	id := strconv.FormatInt(ownMailings(t, srv, uid)[0].ID, 10)
	m := mailingByID(t, srv, id)
	if want := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC); !m.StartAt.Equal(want) {
		t.Fatalf("start stored as %s, want %s", m.StartAt, want)
	}
	if want := time.Date(2026, 3, 1, 21, 30, 0, 0, time.UTC); !m.EndAt.Equal(want) {
		t.Fatalf("end stored as %s, want %s", m.EndAt, want)
	}
	if r := a.get("/mailings/" + id); !strings.Contains(r.Body, "2026-03-01 12:00") || !strings.Contains(r.Body, "2026-03-02 00:30") {
		t.Fatalf("view does not show Moscow time: %.2000s", r.Body)
	}
	if r := a.get("/mailings"); !strings.Contains(r.Body, "2026-03-01 12:00") {
		t.Fatal("list does not show Moscow time")
	}
	if r := a.get("/mailings/" + id + "/edit"); !strings.Contains(r.Body, `value="2026-03-01T12:00"`) || !strings.Contains(r.Body, `value="2026-03-02T00:30"`) {
		t.Fatal("edit form does not show Moscow time")
	}
	// A user in UTC sees the same instant as 09:00.
	m2 := account(t, srv, "boss@example.com", true)
	if r := m2.get("/mailings/" + id); !strings.Contains(r.Body, "2026-03-01 09:00") {
		t.Fatal("a UTC viewer does not see 09:00")
	}
}

func TestMailingStatusFilter(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "st@example.com", false)
	uid := userID(t, srv, "st@example.com")
	short := seedMessage(t, srv, uid, "Short campaign")
	long := seedMessage(t, srv, uid, "Long campaign")
	cl := seedClient(t, srv, uid, "ann@example.com", "")

	// The clock starts on 2026-01-05 09:00 UTC.
	f := mailingForm(short, cl)
	f.Set("start_at", "2026-01-06T10:00")
	f.Set("end_at", "2026-01-10T10:00")
	if r := a.post("/mailings/new", f); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create short: %d %.1000s", r.StatusCode, r.Body)
	}
	if r := a.post("/mailings/new", mailingForm(long, cl)); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create long: %d", r.StatusCode)
	}
	if r := a.get("/mailings?status=finished"); strings.Contains(r.Body, "Short campaign") || !strings.Contains(r.Body, "Nothing matches") {
		t.Fatal("nothing is finished yet")
	}

	srv.Clock.Set(time.Date(2026, 1, 11, 0, 0, 0, 0, time.UTC))
	r := a.get("/mailings?status=finished", "HX-Request", "true")
	if strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, "Short campaign") || strings.Contains(r.Body, "Long campaign") ||
		!strings.Contains(r.Body, `class="badge badge-finished"`) {
		t.Fatalf("finished filter: %.2000s", r.Body)
	}
	r = a.get("/mailings?status=created")
	if strings.Contains(r.Body, "Short campaign") || !strings.Contains(r.Body, "Long campaign") {
		t.Fatalf("created filter: %.2000s", r.Body)
	}
	// The select keeps the choice and the pager and sort links carry it.
	if !strings.Contains(r.Body, `<option value="created" selected`) || !strings.Contains(r.Body, "status=created") {
		t.Fatal("the filter does not show the chosen status")
	}
	r = a.get("/mailings")
	if !strings.Contains(r.Body, "Short campaign") || !strings.Contains(r.Body, "Long campaign") ||
		!strings.Contains(r.Body, "badge-finished") || !strings.Contains(r.Body, "badge-created") {
		t.Fatal("all statuses")
	}
	if r := a.get("/mailings?status=running"); strings.Contains(r.Body, "campaign") {
		t.Fatal("nothing is running")
	}

	// Disabled: its own filter, and a red badge beside the status.
	var longID int64
	for _, m := range ownMailings(t, srv, uid) {
		if m.MessageSubject == "Long campaign" {
			longID = m.ID
		}
	}
	if err := srv.App.Store.SetMailingDisabled(context.Background(), longID, true); err != nil {
		t.Fatal(err)
	}
	r = a.get("/mailings?status=disabled")
	if !strings.Contains(r.Body, "Long campaign") || strings.Contains(r.Body, "Short campaign") ||
		!strings.Contains(r.Body, `<span class="badge badge-disabled">Disabled</span>`) || !strings.Contains(r.Body, "badge-created") {
		t.Fatalf("disabled filter: %.2000s", r.Body)
	}

	// Search by subject prefix, within the status filter.
	if r := a.get("/mailings?q=short"); !strings.Contains(r.Body, "Short campaign") || strings.Contains(r.Body, "Long campaign") {
		t.Fatal("subject search")
	}
	if r := a.get("/mailings?q=short&status=created"); strings.Contains(r.Body, "Short campaign") {
		t.Fatal("search ignores the status")
	}
}

func TestMailingListPartialAndFullPage(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "p@example.com", false)
	uid := userID(t, srv, "p@example.com")
	msg := seedMessage(t, srv, uid, "Partial news")
	cl := seedClient(t, srv, uid, "ann@example.com", "")
	a.post("/mailings/new", mailingForm(msg, cl))

	full := a.get("/mailings")
	if !strings.Contains(full.Body, "<html") || !strings.Contains(full.Body, `id="list"`) || !strings.Contains(full.Body, `name="status"`) {
		t.Fatalf("full page: %.500s", full.Body)
	}
	part := a.get("/mailings?sort=start", "HX-Request", "true")
	if strings.Contains(part.Body, "<html") || !strings.HasPrefix(strings.TrimSpace(part.Body), `<div id="list">`) ||
		strings.Contains(part.Body, `name="status"`) || !strings.Contains(part.Body, "Partial news") {
		t.Fatalf("partial: %.500s", part.Body)
	}
	// A history restore gets the whole page.
	if r := a.get("/mailings", "HX-Request", "true", "HX-History-Restore-Request", "true"); !strings.Contains(r.Body, "<html") {
		t.Fatal("history restore got a fragment")
	}
	// The mailing page's recipients swap alone.
	id := createdID(t, full.Body, "mailings")
	r := a.get("/mailings/"+id, "HX-Request", "true")
	if strings.Contains(r.Body, "<html") || !strings.HasPrefix(strings.TrimSpace(r.Body), `<div id="recipients">`) {
		t.Fatalf("recipients partial: %.500s", r.Body)
	}
}

func TestMailingsOfAnotherOwnerAre404AndManagersReadOnly(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "owner@example.com", false)
	aid := userID(t, srv, "owner@example.com")
	msg := seedMessage(t, srv, aid, "Secret plan")
	cl := seedClient(t, srv, aid, "ann@example.com", "")
	if r := a.post("/mailings/new", mailingForm(msg, cl)); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", r.StatusCode)
	}
	id := createdID(t, a.get("/mailings").Body, "mailings")

	b := account(t, srv, "other@example.com", false)
	bid := userID(t, srv, "other@example.com")
	msgB := seedMessage(t, srv, bid, "B's")
	clB := seedClient(t, srv, bid, "b-client@example.com", "")
	if r := b.get("/mailings"); strings.Contains(r.Body, "Secret plan") {
		t.Fatal("another user's list shows the mailing")
	}
	for _, path := range []string{"/mailings/" + id, "/mailings/" + id + "/edit", "/mailings/" + id + "/delete"} {
		if r := b.get(path); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s by another user: %d, want 404", path, r.StatusCode)
		}
	}
	for _, path := range []string{"/mailings/" + id + "/edit", "/mailings/" + id + "/delete"} {
		if r := b.post(path, mailingForm(msgB, clB)); r.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s by another user: %d, want 404", path, r.StatusCode)
		}
	}

	m := account(t, srv, "boss@example.com", true)
	r := m.get("/mailings")
	if !strings.Contains(r.Body, "Secret plan") || !strings.Contains(r.Body, "owner@example.com") {
		t.Fatalf("manager does not see the mailing with its owner: %.1500s", r.Body)
	}
	if strings.Contains(r.Body, "/mailings/"+id+"/edit") || strings.Contains(r.Body, "/mailings/"+id+"/delete") {
		t.Fatal("manager is offered edit or delete controls in the list")
	}
	v := m.get("/mailings/" + id)
	if v.StatusCode != 200 || !strings.Contains(v.Body, "owner@example.com") || !strings.Contains(v.Body, "ann@example.com") ||
		strings.Contains(v.Body, "/mailings/"+id+"/edit") || strings.Contains(v.Body, "/mailings/"+id+"/delete") {
		t.Fatalf("manager view: %d %.1500s", v.StatusCode, v.Body)
	}
	for _, path := range []string{"/mailings/" + id + "/edit", "/mailings/" + id + "/delete"} {
		if r := m.get(path); r.StatusCode != http.StatusForbidden {
			t.Errorf("manager GET %s: %d, want 403", path, r.StatusCode)
		}
		if r := m.post(path, mailingForm(msg, cl)); r.StatusCode != http.StatusForbidden {
			t.Errorf("manager POST %s: %d, want 403", path, r.StatusCode)
		}
	}
	if got := mailingByID(t, srv, id); got.Period != mailing.PeriodDaily || got.Recipients != 1 {
		t.Fatalf("the mailing changed: %+v", got)
	}
	// The owner does not see the owner column.
	if r := a.get("/mailings"); strings.Contains(r.Body, "<small class=\"owner\">") {
		t.Fatal("owner column shown to a user")
	}
}

func TestMailingPagesInRussian(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "ru@example.com", false)
	uid := userID(t, srv, "ru@example.com")
	msg := seedMessage(t, srv, uid, "Новости")
	cl := seedClient(t, srv, uid, "ann@example.com", "")
	if r := a.post("/lang", url.Values{"lang": {"ru"}}); r.StatusCode >= 400 {
		t.Fatalf("switch language: %d", r.StatusCode)
	}
	a.post("/mailings/new", mailingForm(msg, cl))
	r := a.get("/mailings")
	for _, want := range []string{"Рассылки", ">Создана<", "Ежедневно", "Все статусы", "Отключена", "Завершена", "Запущена"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("Russian list lacks %q", want)
		}
	}
}
