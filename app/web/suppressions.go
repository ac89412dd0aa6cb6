package web

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/pages"
)

func suppressionPath(id int64) string { return "/suppressions/" + strconv.FormatInt(id, 10) }

// suppressions are the addresses a user's runs skip: unsubscribed, bounced, complained
// of, or added by hand. Served by the entity handlers (no edit: an entry is added or
// removed); a CSV of addresses adds many at once.
func (s *Server) suppressions() *entity[mailing.Suppression, *pages.SuppressionForm] {
	return &entity[mailing.Suppression, *pages.SuppressionForm]{
		s: s, kind: "suppressions", filters: mailing.SuppressionReasons,
		byID: s.Store.SuppressionByID, list: s.Store.ListSuppressions, count: s.Store.CountSuppressionList,
		remove: func(ctx context.Context, ownerID, id int64) error {
			_, err := s.Store.Unsuppress(ctx, ownerID, id)
			return err
		},
		listPage: pages.SuppressionsPage, listTable: pages.SuppressionsTable,
		page: func(c *fiber.Ctx, x *mailing.Suppression) (View, error) {
			return View{Title: x.Email, Content: pages.SuppressionPage(x, canEdit(c)(x.OwnerID))}, nil
		},
		blank:  func() *pages.SuppressionForm { return &pages.SuppressionForm{} },
		fields: pages.SuppressionFormFields,
		posted: func(c *fiber.Ctx, _ int64) *pages.SuppressionForm {
			return &pages.SuppressionForm{Email: c.FormValue("email"), Detail: c.FormValue("detail")}
		},
		save: func(c *fiber.Ctx, f *pages.SuppressionForm) (saved, error) {
			email, ok := mailing.NormalizeEmail(f.Email)
			detail := strings.TrimSpace(f.Detail)
			errs := map[string]string{}
			if !ok {
				errs["email"] = "validation.email"
			}
			if strings.ContainsRune(detail, 0) || len(detail) > 500 {
				errs["detail"] = "validation.too_long"
			}
			if len(errs) > 0 {
				return saved{}, invalidForm(errs)
			}
			_, err := s.Store.Suppress(c.UserContext(), []mailing.Suppression{{OwnerID: currentUser(c).ID, Email: email,
				Reason: mailing.SuppressManual, Detail: detail}})
			return saved{next: "/suppressions", names: map[string]any{"Email": email}}, err
		},
		names: func(x *mailing.Suppression) map[string]any {
			return map[string]any{"Email": x.Email, "Complaint": x.Reason == mailing.SuppressComplaint}
		},
		path: func(x *mailing.Suppression) string { return suppressionPath(x.ID) },
	}
}

// suppressionStore is what the suppression pages need of the database.
type suppressionStore interface {
	ListSuppressions(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (mailing.Page[mailing.Suppression], error)
	SuppressionByID(ctx context.Context, scope mailing.Scope, id int64) (*mailing.Suppression, error)
	Suppress(ctx context.Context, list []mailing.Suppression) (int, error)
	Unsuppress(ctx context.Context, ownerID, id int64) (*mailing.Suppression, error)
}

// suppressionsImport adds every valid address of an uploaded CSV (the first column; the
// clients import's format) to the user's list, as added by hand.
func (s *Server) suppressionsImport(c *fiber.Ctx) error {
	fh, err := c.FormFile("file")
	if err != nil || fh == nil || fh.Size == 0 {
		s.flash(c, "error", "import.error.no_file")
		return s.redirect(c, "/suppressions")
	}
	if fh.Size > importFileLimit {
		s.flash(c, "error", "import.error.too_large")
		return s.redirect(c, "/suppressions")
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := mailing.ParseClientsCSV(f)
	var ce *mailing.CSVError
	if errors.As(err, &ce) {
		s.flash(c, "error", ce.Key, ce.Args())
		return s.redirect(c, "/suppressions")
	} else if err != nil {
		return err
	}
	uid := currentUser(c).ID
	var list []mailing.Suppression
	skipped := 0
	for _, r := range rows {
		if _, bad := r.Errors["email"]; bad {
			skipped++
			continue
		}
		list = append(list, mailing.Suppression{OwnerID: uid, Email: r.Client.Email, Reason: mailing.SuppressManual})
	}
	n, err := s.Store.Suppress(c.UserContext(), list)
	if err != nil {
		return err
	}
	s.flash(c, "success", "suppressions.imported", map[string]any{"Added": n, "Skipped": skipped})
	return s.redirect(c, "/suppressions")
}
