// Package static embeds the web UI's static assets (CSS, JS) and serves them
// under content-hashed ("fingerprinted") URLs with immutable caching.
//
// Templates reference assets by logical name through Path:
//
//	<link rel="stylesheet" href={ static.Path("css/app.css") }>
//
// which yields e.g. "/static/css/app.3f2a9b0c1d.css". Handler serves exactly
// those fingerprinted paths; anything else under /static/ is a 404.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Prefix is the URL path prefix under which assets are served.
const Prefix = "/static/"

// hashLen is the number of hex characters of the SHA-256 used in file names.
const hashLen = 10

//go:embed css js
var files embed.FS

type asset struct {
	name   string // logical name, e.g. "css/app.css"
	hashed string // fingerprinted name, e.g. "css/app.3f2a9b0c1d.css"
	body   []byte
	gz     []byte // gzip-compressed body, nil if not worth compressing
	etag   string // strong ETag: quoted full hex SHA-256
	ctype  string
}

var (
	byName   map[string]*asset // logical name -> asset
	byHashed map[string]*asset // fingerprinted name -> asset
	names    []string          // sorted logical names
)

func init() {
	byName = make(map[string]*asset)
	byHashed = make(map[string]*asset)
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		full := hex.EncodeToString(sum[:])
		a := &asset{
			name:   p,
			hashed: hashedName(p, full[:hashLen]),
			body:   body,
			etag:   `"` + full + `"`,
			ctype:  contentType(p),
		}
		if compressible(p) {
			a.gz = gzipBytes(body)
		}
		byName[a.name] = a
		byHashed[a.hashed] = a
		names = append(names, a.name)
		return nil
	})
	if err != nil {
		panic("static: reading embedded assets: " + err.Error())
	}
	slices.Sort(names)
}

// hashedName inserts "."+hash before the last extension of the base name:
// "css/app.css" -> "css/app.<hash>.css", "js/htmx.min.js" -> "js/htmx.min.<hash>.js".
// A name without extension gets the hash appended: "LICENSE" -> "LICENSE.<hash>".
func hashedName(name, hash string) string {
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hash + ext
}

func contentType(name string) string {
	switch ext := strings.ToLower(path.Ext(name)); ext {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	default:
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
		return "application/octet-stream"
	}
}

func compressible(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".css", ".js", ".mjs", ".svg", ".json", ".map", ".txt":
		return true
	}
	return false
}

// gzipBytes returns the gzip-compressed body, or nil if it is not smaller.
func gzipBytes(body []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		panic(err)
	}
	if _, err := zw.Write(body); err != nil {
		panic(err)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	if buf.Len() >= len(body) {
		return nil
	}
	return buf.Bytes()
}

// Path returns the fingerprinted URL path of the asset with the given logical
// name, e.g. Path("css/app.css") == "/static/css/app.3f2a9b0c1d.css".
// It panics if name is not an embedded asset, so typos fail loudly.
func Path(name string) string {
	a, ok := byName[name]
	if !ok {
		panic("static: unknown asset " + strconv.Quote(name))
	}
	return Prefix + a.hashed
}

// Names returns the sorted logical names of all embedded assets.
func Names() []string {
	return slices.Clone(names)
}

// Handler serves fingerprinted asset paths ("/static/<hashedName>") with
// immutable caching. Unknown, unhashed or stale-hash paths get a 404 with
// Cache-Control: no-store. Only GET and HEAD are allowed.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")

	rel, ok := strings.CutPrefix(r.URL.Path, Prefix)
	a := byHashed[rel]
	if !ok || a == nil {
		h.Set("Cache-Control", "no-store")
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		h.Set("Cache-Control", "no-store")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}

	body, etag := a.body, a.etag
	if a.gz != nil {
		h.Set("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Values("Accept-Encoding")) {
			body = a.gz
			// Different bytes, same semantics: weak validator (as nginx does).
			etag = "W/" + a.etag
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", etag)

	if etagMatch(r.Header.Values("If-None-Match"), a.etag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}

	h.Set("Content-Type", a.ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// acceptsGzip reports whether an Accept-Encoding header lists gzip (or
// x-gzip) with a non-zero quality.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" {
				continue
			}
			if q, ok := qValue(params); ok && q == 0 {
				continue
			}
			return true
		}
	}
	return false
}

func qValue(params string) (float64, bool) {
	for p := range strings.SplitSeq(params, ";") {
		k, v, found := strings.Cut(strings.TrimSpace(p), "=")
		if found && strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, true // malformed q: treat as not acceptable
			}
			return q, true
		}
	}
	return 1, false
}

// etagMatch implements If-None-Match's weak comparison against etag.
func etagMatch(values []string, etag string) bool {
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}
