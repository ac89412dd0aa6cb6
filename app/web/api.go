package web

// The JSON API, /api/v1: bearer tokens only — no cookie is read, so there is no CSRF
// surface — JSON in and out, errors as RFC 9457 problem documents. Handlers call the same
// domain validation and store methods as the forms, with the same scopes: a user's own
// objects, or everyone's to read for a manager; another owner's id is 404 (403 to a
// manager who may read it but not change it, as in the UI). The routes are in apiRoutes,
// the document that describes them in openapi.json (api_docs.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/redis/go-redis/v9"

	"mailer/app/mailing"
)

// apiStore is what the API needs of the database beyond what the pages declare.
type apiStore interface {
	ValidCursor(c string) bool
	ListRuns(ctx context.Context, mailingID int64, limit int) ([]mailing.Run, error)
	RunByID(ctx context.Context, id int64) (*mailing.Run, error)
	ClientTags(ctx context.Context, ids []int64) (map[int64][]string, error)
	DeliveryByID(ctx context.Context, scope mailing.Scope, id int64) (*mailing.DeliveryInfo, error)
}

const (
	localAPIToken = "api_token"
	// apiBulkMax bounds a bulk upsert: 10,000 clients fit well inside the 1 MiB body limit
	// and one transaction.
	apiBulkMax = 10000
	apiPageMax = 100
)

func isAPIPath(p string) bool { return strings.HasPrefix(p, "/api/") }

// apiRoutes registers the API before the page middleware (sessions, CSRF, ETags) is
// installed, so none of it runs for /api.
func (s *Server) apiRoutes(app *fiber.App) {
	app.Get("/api/openapi.json", s.apiOpenAPI)
	app.Get("/api/docs", s.apiDocs)

	api := app.Group("/api/v1", s.apiAuth)
	api.Get("/clients", s.apiClients)
	api.Post("/clients", s.apiClientCreate)
	api.Post("/clients/bulk", s.apiClientsBulk)
	api.Get("/clients/:id<int>", s.apiClient)
	api.Patch("/clients/:id<int>", s.apiClientUpdate)
	api.Delete("/clients/:id<int>", s.apiClientDelete)

	api.Get("/messages", s.apiMessages)
	api.Post("/messages", s.apiMessageCreate)
	api.Get("/messages/:id<int>", s.apiMessage)
	api.Patch("/messages/:id<int>", s.apiMessageUpdate)
	api.Delete("/messages/:id<int>", s.apiMessageDelete)
	api.Post("/messages/:id<int>/send", s.apiMessageSend)

	api.Get("/mailings", s.apiMailings)
	api.Post("/mailings", s.apiMailingCreate)
	api.Get("/mailings/:id<int>", s.apiMailing)
	api.Patch("/mailings/:id<int>", s.apiMailingUpdate)
	api.Delete("/mailings/:id<int>", s.apiMailingDelete)
	api.Post("/mailings/:id<int>/send", s.apiMailingSend)
	api.Get("/mailings/:id<int>/runs", s.apiMailingRuns)
	api.Get("/mailings/:id<int>/attempts", s.apiMailingAttempts)
	api.Get("/runs/:id<int>", s.apiRun)
	api.Get("/deliveries/:id<int>", s.apiDelivery)

	api.Get("/tags", s.apiTags)
	api.Get("/suppressions", s.apiSuppressions)
	api.Post("/suppressions", s.apiSuppressionCreate)
	api.Delete("/suppressions/:id<int>", s.apiSuppressionDelete)
	api.Get("/stats", s.apiStats)
}

// apiAuth resolves the bearer token to its user for this request alone, counts the
// request against the token's rate, and refuses writes with a read-only token. A revoked
// token or a blocked owner fails here on the next request: nothing is cached.
func (s *Server) apiAuth(c *fiber.Ctx) error {
	value, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok || strings.TrimSpace(value) == "" {
		return errAPIUnauthorized
	}
	tok, u, err := s.Auth.APITokenUser(c.UserContext(), strings.TrimSpace(value))
	if mailing.ErrorCode(err) == mailing.EUNAUTHORIZED {
		return errAPIUnauthorized
	} else if err != nil {
		return err
	}
	c.Locals(localUser, u)
	c.Locals(localUserID, u.ID)
	c.Locals(localAPIToken, tok)
	if wait := s.apiRateWait(c.UserContext(), tok.ID); wait > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		return &apiError{status: fiber.StatusTooManyRequests, detail: "This token made too many requests; retry after the time in Retry-After."}
	}
	write := c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead
	if write && tok.ReadOnly {
		return &apiError{status: fiber.StatusForbidden, detail: "This token is read-only."}
	}
	err = c.Next()
	if write {
		// Cached figures and page ETags carry the owner's data version: move it on.
		ctx := context.WithoutCancel(c.UserContext())
		s.Versions.Bump(ctx, u.ID)
		if u.IsManager() {
			s.Versions.BumpAdmin(ctx)
		}
	}
	return err
}

var errAPIUnauthorized = &apiError{status: fiber.StatusUnauthorized, detail: "A valid API token is required: Authorization: Bearer <token>."}

// apiRateWindow counts a token's requests in a fixed window and returns the window's
// remaining time with the count, in one round trip.
var apiRateWindow = redis.NewScript(`
local n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
return {n, redis.call("PTTL", KEYS[1])}`)

// apiRateWait is 0 when token may make another request now (RATE_LIMIT_API per token),
// otherwise how long until its window ends. Redis being down lets requests through, as the
// sign-in limits do.
func (s *Server) apiRateWait(ctx context.Context, tokenID int64) time.Duration {
	r := s.Config.RateAPI
	if r.N <= 0 || s.Limiter == nil {
		return 0
	}
	key := "mailer:rl:api:" + strconv.FormatInt(tokenID, 10)
	res, err := apiRateWindow.Run(ctx, s.Limiter.Redis, []string{key}, r.Per.Milliseconds()).Int64Slice()
	if err != nil || len(res) != 2 || res[0] <= int64(r.N) {
		return 0
	}
	return max(time.Duration(res[1])*time.Millisecond, time.Second)
}

// apiCanWrite refuses a manager's change to another owner's object as the UI does: 403 for
// what they may see, 404 otherwise (see forOwner).
func apiOwn[T any](c *fiber.Ctx, load func(mailing.Scope, int64) (T, error)) (T, int64, error) {
	id, err := paramID(c)
	if err != nil {
		var zero T
		return zero, 0, err
	}
	obj, err := forOwner(c, func(sc mailing.Scope) (T, error) { return load(sc, id) })
	return obj, id, err
}

// apiVisible loads the object of the URL in the caller's read scope.
func apiVisible[T any](c *fiber.Ctx, load func(mailing.Scope, int64) (T, error)) (T, error) {
	id, err := paramID(c)
	if err != nil {
		var zero T
		return zero, err
	}
	return load(readScope(c), id)
}

// apiJSON answers v with status.
func apiJSON(c *fiber.Ctx, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).Send(b)
}

// apiList is one page of a list: the items and the cursor of the next page, null on the
// last.
type apiList[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func listOf[T, U any](items []T, next string, conv func(*T) U) apiList[U] {
	out := apiList[U]{Items: make([]U, len(items))}
	for i := range items {
		out.Items[i] = conv(&items[i])
	}
	if next != "" {
		out.NextCursor = &next
	}
	return out
}

// apiListParams reads limit, after (a cursor) and q: a malformed cursor or limit is a
// 400, never a silent first page.
func (s *Server) apiListParams(c *fiber.Ctx) (mailing.ListParams, error) {
	p := mailing.ListParams{Limit: 25, Q: c.Query("q")}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > apiPageMax {
			return p, badParam("limit", "must be an integer from 1 to 100")
		}
		p.Limit = n
	}
	if v := c.Query("after"); v != "" {
		if !s.Store.ValidCursor(v) {
			return p, badParam("after", "is not a cursor this API returned")
		}
		p.Cursor = v
	}
	return p, nil
}

// decodeJSON reads a request body of exactly one JSON object into dst. Unknown fields,
// wrong types and trailing data are 400s naming what is wrong; the body limit (1 MiB) is
// enforced before the handler runs. Kept free of Fiber so FuzzAPIDecode can call it.
func decodeJSON(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return &apiError{status: fiber.StatusBadRequest, detail: "The body must be one JSON object, with nothing after it."}
		}
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return &apiError{status: fiber.StatusBadRequest, detail: "The body is empty; a JSON object is expected."}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &apiError{status: fiber.StatusBadRequest, detail: "Unknown field " + strconv.Quote(field) + ".",
			fields: []apiFieldError{{Field: field, Code: "unknown_field", Message: "is not a field of this request"}}}
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return &apiError{status: fiber.StatusBadRequest, detail: "The body must be a JSON object."}
		}
		return &apiError{status: fiber.StatusBadRequest, detail: "Field " + strconv.Quote(typeErr.Field) + " has the wrong type.",
			fields: []apiFieldError{{Field: typeErr.Field, Code: "type", Message: "must be " + jsonKind(typeErr.Type.Kind().String())}}}
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{status: fiber.StatusBadRequest, detail: "The body is not valid JSON."}
	}
	return &apiError{status: fiber.StatusBadRequest, detail: "The body could not be read as the expected JSON object."}
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"):
		return "an integer"
	case strings.HasPrefix(goKind, "float"):
		return "a number"
	case goKind == "string":
		return "a string"
	case goKind == "bool":
		return "true or false"
	case goKind == "slice":
		return "an array"
	case goKind == "struct", goKind == "map":
		return "an object"
	}
	return "of another type"
}

func (s *Server) apiBody(c *fiber.Ctx, dst any) error { return decodeJSON(c.Body(), dst) }

// apiError is an error the API answers as it stands: a status, a detail and field errors.
type apiError struct {
	status int
	detail string
	fields []apiFieldError
}

func (e *apiError) Error() string { return strconv.Itoa(e.status) + " " + e.detail }

func badParam(name, msg string) error {
	return &apiError{status: fiber.StatusBadRequest, detail: "Query parameter " + strconv.Quote(name) + " " + msg + ".",
		fields: []apiFieldError{{Field: name, Code: "invalid", Message: msg}}}
}

// apiFieldError is one field's problem: its name (a JSON path such as clients[3].email for
// a bulk item), a stable code and an English message.
type apiFieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// problem is an RFC 9457 problem document, with the field errors as an extension member.
type problem struct {
	Type      string          `json:"type"`
	Title     string          `json:"title"`
	Status    int             `json:"status"`
	Detail    string          `json:"detail,omitempty"`
	Instance  string          `json:"instance,omitempty"`
	RequestID string          `json:"request_id,omitempty"`
	Errors    []apiFieldError `json:"errors,omitempty"`
}

// apiProblem turns any error of an API request into a problem document; called from
// handleError, the one place errors become responses.
func (s *Server) apiProblem(c *fiber.Ctx, err error) error {
	p := problem{Status: fiber.StatusInternalServerError, Instance: c.Path(), RequestID: requestIDOf(c)}
	var ae *apiError
	var fe *fiber.Error
	var de *mailing.Error
	switch {
	case errors.As(err, &ae):
		p.Status, p.Detail, p.Errors = ae.status, ae.detail, ae.fields
	case errors.As(err, &fe):
		p.Status = fe.Code
		if fe.Code == fiber.StatusRequestEntityTooLarge {
			p.Detail = "The body is over the limit of 1 MiB."
		}
	case errors.As(err, &de):
		p.Status = map[string]int{
			mailing.ENOTFOUND: fiber.StatusNotFound, mailing.EFORBIDDEN: fiber.StatusForbidden,
			mailing.EINVALID: fiber.StatusUnprocessableEntity, mailing.ECONFLICT: fiber.StatusConflict,
			mailing.ERATELIMIT: fiber.StatusTooManyRequests, mailing.EUNAUTHORIZED: fiber.StatusUnauthorized,
		}[de.Code]
		if p.Status == 0 {
			p.Status = fiber.StatusInternalServerError
			break
		}
		p.Detail = s.Catalog.Translate("en", de.Message, nil)
		for _, f := range slices.Sorted(maps.Keys(de.Fields)) {
			p.Errors = append(p.Errors, apiFieldError{Field: f, Code: strings.TrimPrefix(de.Fields[f], "validation."),
				Message: s.Catalog.Translate("en", de.Fields[f], de.FieldArgs[f])})
		}
	}
	if p.Status >= 500 {
		s.Log.Error("api request failed", "request_id", requestIDOf(c), "method", c.Method(), "path", c.Path(), "err", err)
		p.Detail = "Something went wrong on our side; quote the request id if it keeps happening."
	}
	p.Title = apiTitles[p.Status]
	if p.Title == "" {
		p.Title = utils.StatusMessage(p.Status)
	}
	p.Type = s.Config.BaseURL.String() + "/api/docs#problem-" + strconv.Itoa(p.Status)
	b, _ := json.Marshal(p)
	retry := c.GetRespHeader(fiber.HeaderRetryAfter)
	c.Response().Reset()
	c.Set("X-Request-ID", requestIDOf(c))
	setSecurityHeaders(c)
	if retry != "" {
		c.Set(fiber.HeaderRetryAfter, retry)
	}
	if p.Status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="mailer"`)
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(p.Status).Send(b)
}

var apiTitles = map[int]string{
	fiber.StatusBadRequest:            "Bad request",
	fiber.StatusUnauthorized:          "Unauthorized",
	fiber.StatusForbidden:             "Forbidden",
	fiber.StatusNotFound:              "Not found",
	fiber.StatusMethodNotAllowed:      "Method not allowed",
	fiber.StatusConflict:              "Conflict",
	fiber.StatusRequestEntityTooLarge: "Request body too large",
	fiber.StatusUnprocessableEntity:   "Validation failed",
	fiber.StatusTooManyRequests:       "Too many requests",
	fiber.StatusInternalServerError:   "Internal error",
}

// apiInvalid is a 422 with fields → translation keys, as the forms' errors are.
func apiInvalid(fields map[string]string) error {
	return &mailing.Error{Code: mailing.EINVALID, Message: "validation.form", Fields: fields}
}
