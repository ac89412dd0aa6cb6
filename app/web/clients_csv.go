package web

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"mailer/app/mailing"
	"mailer/views/pages"
)

// clientsCSVStore is what import and export need of the database.
type clientsCSVStore interface {
	UpsertClients(ctx context.Context, ownerID int64, clients []mailing.Client) (created, updated int, err error)
	EachClient(ctx context.Context, ownerID int64, fn func(*mailing.Client) error) error
}

// CSV import runs in two steps: the upload is parsed and previewed, and its valid rows wait
// in Redis under a random token of the user's own until the user confirms (or 30 minutes pass).
const (
	// importFileLimit is the "10 MB" the page promises. It is decimal so that a file just
	// over it still reaches this handler inside the route's uploadBodyLimit (10 MiB) and gets
	// a clear message. A request body over uploadBodyLimit is refused by limitBody (and one
	// over Fiber's global BodyLimit by Fiber itself) before any handler runs: those get the
	// generic error.too_large page.
	importFileLimit = 10_000_000
	importTTL       = 30 * time.Minute
	importPreview   = 100 // lines shown on the preview
)

func importKey(userID int64, token string) string {
	return "mailer:import:" + strconv.FormatInt(userID, 10) + ":" + token
}

// importedClient is a valid row as it waits in Redis: only what the upsert needs.
type importedClient struct {
	Email    string   `json:"e"`
	FullName string   `json:"n,omitempty"`
	Comment  string   `json:"c,omitempty"`
	Tags     []string `json:"t,omitempty"` // none: the client keeps its tags
}

func (s *Server) clientsImportPage(c *fiber.Ctx) error {
	return s.importForm(c, 0, "")
}

// importForm shows the upload form, with msg (translated) above it at status when set.
func (s *Server) importForm(c *fiber.Ctx, status int, msg string) error {
	return s.render(c, View{
		Title:   s.t(c, "import.title"),
		Content: pages.ClientImportPage(pages.ClientImportForm{Error: msg}),
		Partial: pages.ClientImportUpload(pages.ClientImportForm{Error: msg}),
		Status:  status,
	})
}

// clientsImport parses an uploaded file and previews it; nothing is saved yet.
func (s *Server) clientsImport(c *fiber.Ctx) error {
	fh, err := c.FormFile("file")
	if err != nil || fh == nil {
		return s.importForm(c, fiber.StatusUnprocessableEntity, s.t(c, "import.error.no_file"))
	}
	if fh.Size > importFileLimit {
		return s.importForm(c, fiber.StatusRequestEntityTooLarge, s.t(c, "import.error.too_large"))
	}
	if fh.Size == 0 {
		return s.importForm(c, fiber.StatusUnprocessableEntity, s.t(c, "import.error.empty"))
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := mailing.ParseClientsCSV(f)
	if err != nil {
		var ce *mailing.CSVError
		if errors.As(err, &ce) {
			return s.importForm(c, fiber.StatusUnprocessableEntity, s.t(c, ce.Key, ce.Args()))
		}
		return err
	}
	if len(rows) == 0 {
		return s.importForm(c, fiber.StatusUnprocessableEntity, s.t(c, "import.error.no_rows"))
	}

	uid := currentUser(c).ID
	ctx := c.UserContext()
	v := pages.ClientImportPreview{FileName: fh.Filename, Total: len(rows)}
	valid := make([]importedClient, 0, len(rows))
	emails := make(map[string]bool, len(rows))
	for _, r := range rows {
		if !r.Valid() {
			v.Invalid++
			continue
		}
		valid = append(valid, importedClient{Email: r.Client.Email, FullName: r.Client.FullName, Comment: r.Client.Comment, Tags: r.Client.Tags})
		emails[r.Client.Email] = true
	}
	v.Valid = len(valid)
	if v.Valid > 0 {
		if v.Update, err = s.countExisting(ctx, uid, emails); err != nil {
			return err
		}
		v.Create = v.Valid - v.Update
		payload, err := json.Marshal(valid)
		if err != nil {
			return err
		}
		v.Token = newToken()
		if err := s.Redis.Client.Set(ctx, importKey(uid, v.Token), payload, importTTL).Err(); err != nil {
			return err
		}
	}
	for _, r := range rows[:min(len(rows), importPreview)] {
		v.Rows = append(v.Rows, pages.ClientImportRow{
			Line: r.Line, Email: r.Client.Email, FullName: r.Client.FullName, Comment: r.Client.Comment,
			Tags:   strings.Join(r.Client.Tags, ", "),
			Errors: s.rowErrors(c, r.Errors),
		})
	}
	return s.render(c, View{Title: s.t(c, "import.preview_title"), Content: pages.ClientImportPreviewPage(v)})
}

// countExisting counts how many of emails the user has as clients already.
func (s *Server) countExisting(ctx context.Context, uid int64, emails map[string]bool) (int, error) {
	n := 0
	err := s.Store.EachClient(ctx, uid, func(cl *mailing.Client) error {
		if emails[cl.Email] {
			n++
		}
		return nil
	})
	return n, err
}

// rowErrors translates a row's errors as "Field: problem", in column order.
func (s *Server) rowErrors(c *fiber.Ctx, errs map[string]string) []string {
	var out []string
	for _, f := range []struct{ field, label string }{
		{"email", s.t(c, "field.email")},
		{"full_name", s.t(c, "field.full_name")},
		{"comment", s.t(c, "field.comment")},
		{"tags", s.t(c, "field.tags")},
	} {
		if key, ok := errs[f.field]; ok {
			out = append(out, f.label+": "+s.t(c, key))
		}
	}
	return out
}

// clientsImportCommit saves the rows a preview kept. The token is used once: the rows are
// taken out of Redis, and put back only if saving fails, so the user may try again.
func (s *Server) clientsImportCommit(c *fiber.Ctx) error {
	token := c.FormValue("token")
	uid := currentUser(c).ID
	ctx := c.UserContext()
	if !validToken(token) {
		return s.importForm(c, fiber.StatusGone, s.t(c, "import.error.expired"))
	}
	key := importKey(uid, token)
	payload, err := s.Redis.Client.GetDel(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return s.importForm(c, fiber.StatusGone, s.t(c, "import.error.expired"))
	}
	if err != nil {
		return err
	}
	var kept []importedClient
	if err := json.Unmarshal(payload, &kept); err != nil {
		return err
	}
	clients := make([]mailing.Client, 0, len(kept))
	for _, k := range kept {
		cl := mailing.Client{Email: k.Email, FullName: k.FullName, Comment: k.Comment, Tags: k.Tags}
		if len(cl.Validate()) == 0 {
			clients = append(clients, cl)
		}
	}
	created, updated, err := s.Store.UpsertClients(ctx, uid, clients)
	if err != nil {
		// Best effort: keep the preview usable for a retry.
		s.Redis.Client.Set(context.WithoutCancel(ctx), key, payload, importTTL) //nolint:errcheck
		return err
	}
	s.flash(c, "success", "import.done", map[string]any{"Created": created, "Updated": updated})
	return s.redirect(c, "/clients")
}

// clientsExport streams the user's own clients as CSV, one batch in memory at a time.
// Managers export their own clients too: an export is something one can import back.
func (s *Server) clientsExport(c *fiber.Ctx) error {
	uid := ownScope(c).UserID
	ctx := context.WithoutCancel(c.UserContext())
	reqID := requestIDOf(c)
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="clients.csv"`)
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		cw := csv.NewWriter(w)
		err := cw.Write([]string{"email", "full_name", "comment", "tags"})
		if err == nil {
			err = s.Store.EachClient(ctx, uid, func(cl *mailing.Client) error {
				return cw.Write([]string{mailing.CSVCell(cl.Email), mailing.CSVCell(cl.FullName), mailing.CSVCell(cl.Comment),
					mailing.CSVCell(strings.Join(cl.Tags, ", "))})
			})
		}
		cw.Flush()
		if err == nil {
			err = cw.Error()
		}
		if err != nil {
			// The status is sent already: the download ends short, and the log says why.
			s.Log.Error("export clients", "request_id", reqID, "user_id", uid, "err", err)
		}
	})
	return nil
}
