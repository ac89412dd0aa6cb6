package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"mailer/app/testutil"
	"mailer/app/web"
)

// The OpenAPI document, loaded and checked once; every API call of the tests is held to it.
var (
	specOnce   sync.Once
	specDoc    *openapi3.T
	specRouter routers.Router
	specErr    error
)

func apiSpec(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		specDoc, specErr = loader.LoadFromData(web.OpenAPIDocument())
		if specErr != nil {
			return
		}
		if specErr = specDoc.Validate(loader.Context); specErr != nil {
			return
		}
		specRouter, specErr = gorillamux.NewRouter(specDoc)
	})
	if specErr != nil {
		t.Fatalf("openapi.json: %v", specErr)
	}
	return specDoc, specRouter
}

// apiUser calls the API with one bearer token (none for ""), without cookies.
type apiUser struct {
	t     testing.TB
	srv   *testutil.Server
	token string
	c     *http.Client
}

func newAPIUser(t testing.TB, srv *testutil.Server, token string) *apiUser {
	return &apiUser{t: t, srv: srv, token: token, c: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// apiToken creates a confirmed user (unless it exists) and a token of theirs.
func apiToken(t testing.TB, srv *testutil.Server, email string, manager, readOnly bool) string {
	t.Helper()
	ctx := context.Background()
	u, err := srv.App.Store.UserByEmail(ctx, email)
	if err != nil {
		if u, err = srv.App.Auth.CreateConfirmedUser(ctx, email, pw, manager); err != nil {
			t.Fatal(err)
		}
	}
	_, value, err := srv.App.Auth.CreateAPIToken(ctx, u, "test", readOnly)
	if err != nil {
		t.Fatal(err)
	}
	return value
}

type apiResp struct {
	Status int
	Header http.Header
	Body   []byte
}

// json decodes the body into v.
func (r apiResp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// problem is the problem document of an error response.
func (r apiResp) problem(t testing.TB) (p struct {
	Type, Title, Detail string
	Status              int
	Errors              []struct{ Field, Code, Message string }
}) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json: %s", ct, r.Body)
	}
	r.json(t, &p)
	if p.Status != r.Status || p.Title == "" || p.Type == "" {
		t.Fatalf("problem document %+v for status %d", p, r.Status)
	}
	return p
}

// fields maps each field error's field to its code.
func (r apiResp) fields(t testing.TB) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, e := range r.problem(t).Errors {
		m[e.Field] = e.Code
	}
	return m
}

// call sends a request (body: nil, a []byte sent as is, or a value marshalled to JSON) and
// checks the exchange against the OpenAPI document: the response always, the request
// whenever the server accepted it (a request the server refuses may be one the document
// refuses too — that is what it is for).
func (a *apiUser) call(method, path string, body any, want int) apiResp {
	a.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			a.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, a.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		a.t.Fatal(err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	r := apiResp{Status: resp.StatusCode, Header: resp.Header, Body: out}
	if want != 0 && r.Status != want {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, out)
	}
	a.validate(req, raw, r)
	return r
}

func (a *apiUser) validate(req *http.Request, raw []byte, r apiResp) {
	a.t.Helper()
	_, router := apiSpec(a.t)
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(raw))
	route, params, err := router.FindRoute(vreq)
	if err != nil {
		if r.Status == http.StatusNotFound || r.Status == http.StatusMethodNotAllowed {
			return // a path the API does not have
		}
		a.t.Fatalf("%s %s is not in openapi.json: %v", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	if reqErr != nil && r.Status < 300 {
		a.t.Errorf("%s %s: the server accepted (%d) a request openapi.json refuses: %v", req.Method, req.URL.Path, r.Status, reqErr)
	}
	in.Options = &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: r.Status, Header: r.Header, Body: io.NopCloser(bytes.NewReader(r.Body)),
		Options: in.Options,
	})
	if err != nil {
		a.t.Errorf("%s %s → %d: response does not match openapi.json: %v\n%s", req.Method, req.URL.Path, r.Status, err,
			strings.TrimSpace(string(r.Body)))
	}
}
