package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var wantAssets = []string{"css/app.css", "css/pico.min.css", "js/app.js", "js/htmx.min.js"}

func fullHash(t *testing.T, name string) string {
	t.Helper()
	b, err := files.ReadFile(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func get(t *testing.T, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func TestNames(t *testing.T) {
	got := Names()
	if !slices.IsSorted(got) {
		t.Errorf("Names not sorted: %v", got)
	}
	for _, n := range wantAssets {
		if !slices.Contains(got, n) {
			t.Errorf("Names missing %q: %v", n, got)
		}
	}
	for _, n := range got {
		if strings.HasSuffix(n, ".go") || strings.HasSuffix(n, ".md") {
			t.Errorf("unexpected embedded file %q", n)
		}
	}
	// Returned slice must be a copy.
	got[0] = "mutated"
	if Names()[0] == "mutated" {
		t.Error("Names returns internal slice")
	}
}

func TestPathFormat(t *testing.T) {
	cases := map[string]*regexp.Regexp{
		"css/app.css":      regexp.MustCompile(`^/static/css/app\.[0-9a-f]{10}\.css$`),
		"css/pico.min.css": regexp.MustCompile(`^/static/css/pico\.min\.[0-9a-f]{10}\.css$`),
		"js/app.js":        regexp.MustCompile(`^/static/js/app\.[0-9a-f]{10}\.js$`),
		"js/htmx.min.js":   regexp.MustCompile(`^/static/js/htmx\.min\.[0-9a-f]{10}\.js$`),
	}
	for name, re := range cases {
		p := Path(name)
		if !re.MatchString(p) {
			t.Errorf("Path(%q) = %q, want match %s", name, p, re)
		}
		// Hash is the first 10 hex chars of the content's SHA-256, before the last extension.
		ext := path.Ext(name)
		want := "/static/" + strings.TrimSuffix(name, ext) + "." + fullHash(t, name)[:10] + ext
		if p != want {
			t.Errorf("Path(%q) = %q, want %q", name, p, want)
		}
		if again := Path(name); again != p {
			t.Errorf("Path(%q) not stable: %q then %q", name, p, again)
		}
	}
	if Path("css/app.css") == Path("css/pico.min.css") {
		t.Error("different assets share a path")
	}
}

func TestHashedName(t *testing.T) {
	cases := []struct{ in, want string }{
		{"css/app.css", "css/app.abc.css"},
		{"js/htmx.min.js", "js/htmx.min.abc.js"},
		{"img/LICENSE", "img/LICENSE.abc"},
	}
	for _, c := range cases {
		if got := hashedName(c.in, "abc"); got != c.want {
			t.Errorf("hashedName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPathPanicsOnUnknown(t *testing.T) {
	for _, name := range []string{"css/nope.css", "app.css", "", "/css/app.css", "css"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Path(%q) did not panic", name)
				}
			}()
			Path(name)
		}()
	}
}

func TestServeOK(t *testing.T) {
	types := map[string]string{
		"css/app.css":      "text/css; charset=utf-8",
		"css/pico.min.css": "text/css; charset=utf-8",
		"js/app.js":        "text/javascript; charset=utf-8",
		"js/htmx.min.js":   "text/javascript; charset=utf-8",
	}
	for name, ctype := range types {
		rec := get(t, http.MethodGet, Path(name), nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", name, rec.Code)
		}
		h := rec.Header()
		if got := h.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q", name, got)
		}
		if got := h.Get("Content-Type"); got != ctype {
			t.Errorf("%s: Content-Type %q, want %q", name, got, ctype)
		}
		if got, want := h.Get("ETag"), `"`+fullHash(t, name)+`"`; got != want {
			t.Errorf("%s: ETag %q, want %q", name, got, want)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", name, got)
		}
		if got := h.Get("Content-Encoding"); got != "" {
			t.Errorf("%s: unexpected Content-Encoding %q without Accept-Encoding", name, got)
		}
		want, _ := files.ReadFile(name)
		if !bytes.Equal(rec.Body.Bytes(), want) {
			t.Errorf("%s: body differs from embedded file (%d vs %d bytes)", name, rec.Body.Len(), len(want))
		}
		if len(want) == 0 {
			t.Errorf("%s: embedded file is empty", name)
		}
	}
}

func TestHead(t *testing.T) {
	name := "css/app.css"
	rec := get(t, http.MethodHead, Path(name), nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("HEAD status %d", rec.Code)
	}
	if rec.Body.Len() != 0 {
		t.Errorf("HEAD wrote %d body bytes", rec.Body.Len())
	}
	want, _ := files.ReadFile(name)
	if got := rec.Header().Get("Content-Length"); got != strconv.Itoa(len(want)) {
		t.Errorf("HEAD Content-Length %q, want %d", got, len(want))
	}
}

func TestNotModified(t *testing.T) {
	name := "js/app.js"
	etag := `"` + fullHash(t, name) + `"`
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		rec := get(t, http.MethodGet, Path(name), map[string]string{"If-None-Match": inm})
		if rec.Code != http.StatusNotModified {
			t.Errorf("If-None-Match %s: status %d, want 304", inm, rec.Code)
		}
		if rec.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: 304 with body", inm)
		}
		if got := rec.Header().Get("ETag"); got != etag {
			t.Errorf("If-None-Match %s: ETag %q", inm, got)
		}
	}
	rec := get(t, http.MethodGet, Path(name), map[string]string{"If-None-Match": `"deadbeef"`})
	if rec.Code != http.StatusOK {
		t.Errorf("non-matching If-None-Match: status %d, want 200", rec.Code)
	}
}

func TestNotFound(t *testing.T) {
	hashed := Path("css/app.css")
	hash := fullHash(t, "css/app.css")[:10]
	wrong := strings.Replace(hashed, hash, "0123456789", 1)
	if wrong == hashed {
		wrong = strings.Replace(hashed, hash, "9876543210", 1)
	}
	for _, p := range []string{
		"/static/css/app.css",                 // unhashed
		wrong,                                 // stale / wrong hash
		"/static/",                            // no listing
		"/static/css/",                        // no listing
		"/static/css/nope.abc.css",            // unknown
		"/static/static.go",                   // not embedded
		"/static/VENDOR.md",                   // not embedded
		strings.TrimPrefix(hashed, "/static"), // missing prefix
	} {
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			rec := get(t, m, p, nil)
			if rec.Code != http.StatusNotFound {
				t.Errorf("%s %s: status %d, want 404", m, p, rec.Code)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("%s %s: Cache-Control %q, want no-store", m, p, got)
			}
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	rec := get(t, http.MethodPost, Path("css/app.css"), nil)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", rec.Code)
	}
	if rec.Header().Get("Cache-Control") == "public, max-age=31536000, immutable" {
		t.Error("POST response is cacheable")
	}
}

func TestGzip(t *testing.T) {
	for _, name := range wantAssets {
		rec := get(t, http.MethodGet, Path(name), map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", name, rec.Code)
		}
		h := rec.Header()
		if h.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: Content-Encoding %q, want gzip", name, h.Get("Content-Encoding"))
		}
		if !strings.Contains(h.Get("Vary"), "Accept-Encoding") {
			t.Errorf("%s: Vary %q", name, h.Get("Vary"))
		}
		if h.Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
			t.Errorf("%s: Content-Length %q, body %d", name, h.Get("Content-Length"), rec.Body.Len())
		}
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatalf("%s: gzip reader: %v", name, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: gunzip: %v", name, err)
		}
		want, _ := files.ReadFile(name)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: gunzipped body differs from embedded file", name)
		}

		// Identity responses for compressible assets also carry Vary.
		plain := get(t, http.MethodGet, Path(name), map[string]string{"Accept-Encoding": "identity"})
		if plain.Header().Get("Content-Encoding") != "" || !bytes.Equal(plain.Body.Bytes(), want) {
			t.Errorf("%s: identity request got encoded body", name)
		}
		if !strings.Contains(plain.Header().Get("Vary"), "Accept-Encoding") {
			t.Errorf("%s: identity response lacks Vary", name)
		}
	}
	// gzip;q=0 means "not acceptable".
	rec := get(t, http.MethodGet, Path("css/app.css"), map[string]string{"Accept-Encoding": "gzip;q=0"})
	if rec.Header().Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 still got gzip")
	}
}
