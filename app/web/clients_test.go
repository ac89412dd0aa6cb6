package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"mailer/app/testutil"
)

func TestClientCRUDWithValidation(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "a@example.com", false)

	r := a.post("/clients/new", url.Values{"email": {"not valid"}, "full_name": {"X"}}, "HX-Request", "true")
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Enter a valid email address.") || strings.Contains(r.Body, "<html") {
		t.Fatalf("invalid email: %d %.300s", r.StatusCode, r.Body)
	}
	r = a.post("/clients/new", url.Values{"email": {"  Ivan@Example.COM "}, "full_name": {"Ivan Petrov"}, "comment": {"vip"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %.300s", r.StatusCode, r.Body)
	}
	list := a.get("/clients")
	if !strings.Contains(list.Body, "ivan@example.com") || !strings.Contains(list.Body, "Client ivan@example.com added.") {
		t.Fatalf("list after create: %.800s", list.Body)
	}
	id := createdID(t, list.Body, "clients")

	// The same email in another case is a duplicate for the same owner.
	r = a.post("/clients/new", url.Values{"email": {"IVAN@example.com"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "already have a client with this email") {
		t.Fatalf("duplicate: %d", r.StatusCode)
	}
	// …but not for another owner.
	b := account(t, srv, "b@example.com", false)
	if r := b.post("/clients/new", url.Values{"email": {"ivan@example.com"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("other owner, same email: %d", r.StatusCode)
	}

	r = a.post("/clients/"+id+"/edit", url.Values{"email": {"ivan@example.com"}, "full_name": {"Ivan P."}, "comment": {""}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d %.300s", r.StatusCode, r.Body)
	}
	if r := a.get("/clients/" + id); !strings.Contains(r.Body, "Ivan P.") {
		t.Fatal("edit not saved")
	}

	// Search by email prefix and by name prefix; an HTMX search gets the table alone.
	r = a.get("/clients?q=IVAN", "HX-Request", "true")
	if !strings.Contains(r.Body, "ivan@example.com") || strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, `id="list"`) {
		t.Fatalf("search partial: %.300s", r.Body)
	}
	if r := a.get("/clients?q=ivan+p"); !strings.Contains(r.Body, "ivan@example.com") {
		t.Fatal("name search found nothing")
	}
	if r := a.get("/clients?q=zzz"); strings.Contains(r.Body, "ivan@example.com") || !strings.Contains(r.Body, "Nothing matches") {
		t.Fatal("search does not filter")
	}

	r = a.post("/clients/"+id+"/delete", nil, "HX-Request", "true")
	if r.StatusCode != 200 || !strings.Contains(r.Body, "deleted") || strings.Contains(r.Body, "<tr") {
		t.Fatalf("htmx delete: %d %q", r.StatusCode, r.Body)
	}
	if r := a.get("/clients/" + id); r.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted client still there: %d", r.StatusCode)
	}
}

func TestClientsOfAnotherOwnerAre404AndManagersReadOnly(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "owner@example.com", false)
	a.post("/clients/new", url.Values{"email": {"secret@example.com"}, "full_name": {"Secret"}})
	id := createdID(t, a.get("/clients").Body, "clients")

	b := account(t, srv, "other@example.com", false)
	if r := b.get("/clients"); strings.Contains(r.Body, "secret@example.com") {
		t.Fatal("another user's list shows the client")
	}
	for _, path := range []string{"/clients/" + id, "/clients/" + id + "/edit", "/clients/" + id + "/delete"} {
		if r := b.get(path); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s by another user: %d, want 404", path, r.StatusCode)
		}
	}
	for _, path := range []string{"/clients/" + id + "/edit", "/clients/" + id + "/delete"} {
		if r := b.post(path, url.Values{"email": {"x@example.com"}}); r.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s by another user: %d, want 404", path, r.StatusCode)
		}
	}

	m := account(t, srv, "boss@example.com", true)
	r := m.get("/clients")
	if !strings.Contains(r.Body, "secret@example.com") || !strings.Contains(r.Body, "owner@example.com") {
		t.Fatalf("manager does not see the client with its owner: %.500s", r.Body)
	}
	if strings.Contains(r.Body, "/clients/"+id+"/edit") || strings.Contains(r.Body, "/clients/"+id+"/delete") {
		t.Fatal("manager is offered edit or delete controls")
	}
	if r := m.get("/clients/" + id); r.StatusCode != 200 {
		t.Fatalf("manager view: %d", r.StatusCode)
	}
	for _, path := range []string{"/clients/" + id + "/edit", "/clients/" + id + "/delete"} {
		if r := m.post(path, url.Values{"email": {"x@example.com"}}); r.StatusCode != http.StatusForbidden {
			t.Errorf("manager POST %s: %d, want 403", path, r.StatusCode)
		}
	}
	if r := a.get("/clients/" + id); !strings.Contains(r.Body, "Secret") {
		t.Fatal("the client changed")
	}
}

func TestClientListPagesBothWays(t *testing.T) {
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	a := account(t, srv, "pager@example.com", false)
	for i := 0; i < 30; i++ {
		a.post("/clients/new", url.Values{"email": {string(rune('a'+i%26)) + strings.Repeat("x", i/26+1) + "@example.com"}})
	}
	first := a.get("/clients")
	if !strings.Contains(first.Body, "after=") || strings.Contains(first.Body, "before=") {
		t.Fatal("first page links")
	}
	i := strings.Index(first.Body, `href="/clients?after=`)
	next := first.Body[i+len(`href="`):]
	next = strings.ReplaceAll(next[:strings.IndexByte(next, '"')], "&amp;", "&")
	second := a.get(next, "HX-Request", "true")
	if strings.Contains(second.Body, "<html") || strings.Contains(second.Body, "after=") || !strings.Contains(second.Body, "before=") {
		t.Fatalf("second page: %.300s", second.Body)
	}
	if n := strings.Count(second.Body, "<tr id="); n != 5 {
		t.Fatalf("second page rows = %d, want 5", n)
	}
	if strings.Count(first.Body, "<tr id=") != 25 {
		t.Fatal("first page should have 25 rows")
	}
}
