package web

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"

	"mailer/static"
)

// openAPIDoc describes /api/v1 (OpenAPI 3.1). Every API test validates its requests and
// responses against it, so it cannot drift from what the handlers do; /api/docs renders
// it for people.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPIDocument is the embedded document, for tests that validate against it.
func OpenAPIDocument() []byte { return openAPIDoc }

func (s *Server) apiOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(openAPIDoc)
}

// apiDocs is the reference page, rendered on the server from the document (the CSP allows
// no script, so no client-side viewer): operations by tag, their parameters and answers,
// the schemas, and the problem types the problem documents' "type" links to.
func (s *Server) apiDocs(c *fiber.Ctx) error {
	page, err := renderAPIDocs(s.Config.BaseURL.String())
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(page)
}

type oaSchema struct {
	Ref         string              `json:"$ref"`
	Type        any                 `json:"type"`
	Format      string              `json:"format"`
	Enum        []string            `json:"enum"`
	Description string              `json:"description"`
	Properties  map[string]oaSchema `json:"properties"`
	Required    []string            `json:"required"`
	Items       *oaSchema           `json:"items"`
	MaxItems    int                 `json:"maxItems"`
	MaxLength   int                 `json:"maxLength"`
}

type oaOperation struct {
	OperationID string `json:"operationId"`
	Summary     string `json:"summary"`
	Description string `json:"description"`
	Tags        []string
	Parameters  []struct {
		Name, In, Description string
		Required              bool
		Schema                oaSchema
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct{ Schema oaSchema } `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Ref         string `json:"$ref"`
		Description string `json:"description"`
		Content     map[string]struct{ Schema oaSchema }
	} `json:"responses"`
}

type oaDoc struct {
	Info  struct{ Title, Description string }
	Paths map[string]map[string]json.RawMessage
	Tags  []struct{ Name string }
	// Components hold the schemas and the shared error answers.
	Components struct {
		Schemas   map[string]oaSchema
		Responses map[string]struct{ Description string }
	}
}

// docOp is one operation as the page lists it.
type docOp struct {
	Method, Path, ID, Summary, Description, Body string
	Params                                       [][4]string // name, in, type, description
	Responses                                    [][2]string // status, what
}

var (
	docsOnce sync.Once
	docsPage []byte
	docsErr  error
)

func renderAPIDocs(baseURL string) ([]byte, error) {
	docsOnce.Do(func() { docsPage, docsErr = buildAPIDocs(baseURL) })
	return docsPage, docsErr
}

func typeName(s oaSchema) string {
	if s.Ref != "" {
		return strings.TrimPrefix(s.Ref, "#/components/schemas/")
	}
	var t string
	switch v := s.Type.(type) {
	case string:
		t = v
	case []any:
		parts := make([]string, len(v))
		for i, p := range v {
			parts[i], _ = p.(string)
		}
		t = strings.Join(parts, " | ")
	}
	if s.Items != nil {
		t = "array of " + typeName(*s.Items)
	}
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	if len(s.Enum) > 0 {
		t += ": " + strings.Join(s.Enum, ", ")
	}
	return t
}

func buildAPIDocs(baseURL string) ([]byte, error) {
	var doc oaDoc
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		return nil, err
	}
	byTag := map[string][]docOp{}
	for _, path := range slices.Sorted(maps.Keys(doc.Paths)) {
		for _, method := range []string{"get", "post", "patch", "delete"} {
			raw, ok := doc.Paths[path][method]
			if !ok {
				continue
			}
			var op oaOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, err
			}
			d := docOp{Method: strings.ToUpper(method), Path: path, ID: op.OperationID, Summary: op.Summary, Description: op.Description}
			if strings.Contains(path, "{id}") {
				d.Params = append(d.Params, [4]string{"id", "path", "integer", ""})
			}
			for _, p := range op.Parameters {
				d.Params = append(d.Params, [4]string{p.Name, p.In, typeName(p.Schema), p.Description})
			}
			if op.RequestBody != nil {
				d.Body = typeName(op.RequestBody.Content["application/json"].Schema)
			}
			for _, code := range slices.Sorted(maps.Keys(op.Responses)) {
				r := op.Responses[code]
				what := r.Description
				if r.Ref != "" {
					what = "problem: " + doc.Components.Responses[strings.TrimPrefix(r.Ref, "#/components/responses/")].Description
				} else if ct, ok := r.Content["application/json"]; ok {
					what += " — " + typeName(ct.Schema)
				}
				d.Responses = append(d.Responses, [2]string{code, what})
			}
			tag := "Other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			byTag[tag] = append(byTag[tag], d)
		}
	}
	type docSchema struct {
		Name, Description string
		Fields            [][4]string // name, type, required, description
	}
	var schemas []docSchema
	for _, name := range slices.Sorted(maps.Keys(doc.Components.Schemas)) {
		sc := doc.Components.Schemas[name]
		ds := docSchema{Name: name, Description: sc.Description}
		for _, f := range slices.Sorted(maps.Keys(sc.Properties)) {
			req := ""
			if slices.Contains(sc.Required, f) {
				req = "required"
			}
			p := sc.Properties[f]
			desc := p.Description
			if p.MaxLength > 0 {
				desc = strings.TrimSpace(desc + " At most " + strconv.Itoa(p.MaxLength) + " characters.")
			}
			if p.MaxItems > 0 {
				desc = strings.TrimSpace(desc + " At most " + strconv.Itoa(p.MaxItems) + " items.")
			}
			ds.Fields = append(ds.Fields, [4]string{f, typeName(p), req, desc})
		}
		schemas = append(schemas, ds)
	}
	var tags []string
	for _, t := range doc.Tags {
		tags = append(tags, t.Name)
	}
	problems := [][2]string{}
	for _, code := range []int{400, 401, 403, 404, 409, 413, 422, 429, 500} {
		problems = append(problems, [2]string{strconv.Itoa(code), apiTitles[code]})
	}
	var buf bytes.Buffer
	err := docsTemplate.Execute(&buf, map[string]any{
		"Title": doc.Info.Title, "Description": doc.Info.Description, "Base": baseURL, "CSS": static.Path("css/app.css"),
		"Tags": tags, "Ops": byTag, "Schemas": schemas, "Problems": problems,
	})
	return buf.Bytes(), err
}

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="stylesheet" href="{{.CSS}}">
</head>
<body>
<main class="container api-docs">
<h1>{{.Title}}</h1>
<p>{{.Description}}</p>
<p>Base URL: <code>{{.Base}}/api/v1</code>. The machine-readable document: <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1).</p>
<pre><code>curl -H "Authorization: Bearer $TOKEN" {{.Base}}/api/v1/clients?limit=10</code></pre>
<nav><ul>{{range .Tags}}<li><a href="#tag-{{.}}">{{.}}</a></li>{{end}}<li><a href="#schemas">Schemas</a></li><li><a href="#problems">Errors</a></li></ul></nav>
{{range $tag := .Tags}}
<section id="tag-{{$tag}}">
<h2>{{$tag}}</h2>
{{range index $.Ops $tag}}
<article id="{{.ID}}">
<h3><code>{{.Method}} {{.Path}}</code></h3>
<p><strong>{{.Summary}}</strong></p>
{{if .Description}}<p>{{.Description}}</p>{{end}}
{{if .Params}}<div class="table-wrap"><table><thead><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr></thead><tbody>
{{range .Params}}<tr><td><code>{{index . 0}}</code></td><td>{{index . 1}}</td><td>{{index . 2}}</td><td>{{index . 3}}</td></tr>{{end}}
</tbody></table></div>{{end}}
{{if .Body}}<p>Body: <a href="#schema-{{.Body}}">{{.Body}}</a> (JSON)</p>{{end}}
<ul>{{range .Responses}}<li><code>{{index . 0}}</code> {{index . 1}}</li>{{end}}</ul>
</article>
{{end}}
</section>
{{end}}
<section id="schemas">
<h2>Schemas</h2>
{{range .Schemas}}
<article id="schema-{{.Name}}">
<h3>{{.Name}}</h3>
{{if .Description}}<p>{{.Description}}</p>{{end}}
<div class="table-wrap"><table><thead><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr></thead><tbody>
{{range .Fields}}<tr><td><code>{{index . 0}}</code></td><td>{{index . 1}}</td><td>{{index . 2}}</td><td>{{index . 3}}</td></tr>{{end}}
</tbody></table></div>
</article>
{{end}}
</section>
<section id="problems">
<h2>Errors</h2>
<p>Every error is an RFC 9457 <code>application/problem+json</code> document: <code>type</code>, <code>title</code>, <code>status</code>, <code>detail</code>, and <code>errors</code>, one <code>{field, code, message}</code> per field that is wrong (a bulk item's fields are named <code>clients[i].email</code>). Unknown fields are refused (400, the field named); bodies over 1 MiB are 413.</p>
<ul>{{range .Problems}}<li id="problem-{{index . 0}}"><code>{{index . 0}}</code> {{index . 1}}</li>{{end}}</ul>
</section>
</main>
</body>
</html>
`))
