package web

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
	"mailer/views/pages"
)

// sendStore is what the sending parts of a mailing's page need of the database.
type sendStore interface {
	LatestRun(ctx context.Context, mailingID int64) (*mailing.Run, error)
	Progress(ctx context.Context, runID int64) (mailing.RunProgress, error)
	ListAttempts(ctx context.Context, mailingID int64, status string, p mailing.ListParams) (mailing.Page[mailing.Attempt], error)
	Relay(ctx context.Context) (mailing.RelayState, error)
}

// sendPanel builds the "Send now" control and the latest run's progress of m.
func (s *Server) sendPanel(c *fiber.Ctx, m *mailing.Mailing) (pages.SendPanel, error) {
	v := pages.SendPanel{MailingID: m.ID, Owner: m.OwnerID == currentUser(c).ID}
	var refused *mailing.Error
	if errors.As(mailing.CanSend(m, m.OwnerBlocked, s.Clock.Now()), &refused) {
		v.Refusal = s.t(c, refused.Message)
	}
	run, err := s.Store.LatestRun(c.UserContext(), m.ID)
	if mailing.ErrorCode(err) == mailing.ENOTFOUND {
		return v, nil
	} else if err != nil {
		return v, err
	}
	p, err := s.Store.Progress(c.UserContext(), run.ID)
	if err != nil {
		return v, err
	}
	v.Progress = &p
	if !p.Done() {
		// A run waiting for the mail server says so, and until when.
		if r, err := s.Store.Relay(c.UserContext()); err == nil && r.Down() {
			v.Relay = &r
		}
	}
	if !p.Done() && v.Refusal == "" {
		v.Refusal = s.t(c, mailing.ErrRunInProgress.Message)
	}
	v.CanResend = p.Done() && p.Failed+p.Cancelled > 0 && v.Refusal == ""
	return v, nil
}

// attemptList reads one page of m's send attempts from the query string.
func (s *Server) attemptList(c *fiber.Ctx, m *mailing.Mailing) (pages.AttemptList, error) {
	p := listParams(c)
	a := pages.AttemptList{MailingID: m.ID, Status: c.Query("status")}
	if a.Status != mailing.AttemptSuccess && a.Status != mailing.AttemptFailure {
		a.Status = ""
	}
	page, err := s.Store.ListAttempts(c.UserContext(), m.ID, a.Status, p)
	if err != nil {
		return a, err
	}
	a.Items, a.Next, a.Prev = page.Items, page.Next, page.Prev
	return a, nil
}

// mailingSend starts a run now. It answers at once: the workers do the sending and the page
// follows the progress.
func (s *Server) mailingSend(c *fiber.Ctx) error { return s.startRun(c, false) }

// mailingResend starts a run for the failed and unsent recipients of the latest run.
func (s *Server) mailingResend(c *fiber.Ctx) error { return s.startRun(c, true) }

func (s *Server) startRun(c *fiber.Ctx, resend bool) error {
	m, err := s.mailings().own(c)
	if err != nil {
		return err
	}
	kind, from := mailing.RunManual, int64(0)
	if resend {
		last, err := s.Store.LatestRun(c.UserContext(), m.ID)
		if err != nil {
			return err
		}
		kind, from = mailing.RunResend, last.ID
	}
	run, err := s.Engine.StartMailing(c.UserContext(), m, kind, nil, from)
	var refused *mailing.Error
	switch {
	case errors.As(err, &refused):
		s.flash(c, "error", refused.Message)
	case err != nil:
		return err
	default:
		s.flash(c, "success", "send.started", map[string]any{"Count": run.Total})
	}
	v, err := s.sendPanel(c, m)
	if err != nil {
		return err
	}
	return s.render(c, View{Partial: pages.SendSection(v), Back: mailingPath(m.ID)})
}

// mailingProgress is the progress bar alone, which the page polls while a run goes on.
func (s *Server) mailingProgress(c *fiber.Ctx) error {
	m, err := s.visibleMailing(c)
	if err != nil {
		return err
	}
	v, err := s.sendPanel(c, m)
	if err != nil {
		return err
	}
	return s.render(c, View{Partial: pages.Progress(v), Back: mailingPath(m.ID)})
}

// mailingAttempts is the attempts table: filtered and paged in place, or as its own page.
func (s *Server) mailingAttempts(c *fiber.Ctx) error {
	m, err := s.visibleMailing(c)
	if err != nil {
		return err
	}
	a, err := s.attemptList(c, m)
	if err != nil {
		return err
	}
	title := s.t(c, "send.attempts")
	return s.render(c, View{Title: title, Content: pages.AttemptsPage(m, a), Partial: pages.Attempts(a)})
}

// visibleMailing is the mailing of the URL, for its owner or a manager.
func (s *Server) visibleMailing(c *fiber.Ctx) (*mailing.Mailing, error) {
	id, err := paramID(c)
	if err != nil {
		return nil, err
	}
	return s.Store.MailingByID(c.UserContext(), readScope(c), id)
}
