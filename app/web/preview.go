package web

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"mailer/app/mail"
	"mailer/app/mailing"
	"mailer/views/components"
	"mailer/views/pages"
)

// A message's HTML is the sender's own markup: it is only ever shown inside <iframe
// sandbox> (no scripts, an opaque origin) and served from these routes with a CSP that
// sandboxes it again, so no markup of a user's runs in Mailer's origin — not when its
// author edits it, not when a manager looks at it. Editor previews of unsaved text wait in
// Redis under a random token of the user's own for previewTTL.
const previewTTL = 10 * time.Minute

// sampleName is who previews and test sends are written for.
const sampleName = "Ann Example"

func previewSample(from, email string) mailing.TemplateData {
	if email == "" {
		email = "ann@example.com"
	}
	return mailing.TemplateData{Name: sampleName, Email: email, Sender: mailing.SenderName(from)}
}

func previewKey(userID int64, token string) string {
	return "mailer:preview:" + strconv.FormatInt(userID, 10) + ":" + token
}

// sandboxed answers with a message's HTML for a preview frame. The CSP's sandbox keeps
// scripts and forms dead and the origin opaque even if the page is opened on its own;
// styles and images are what an email client would show.
func (s *Server) sandboxed(c *fiber.Ctx, html string) error {
	c.Set("Content-Security-Policy", "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "+
		"font-src https: data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
	c.Set("X-Frame-Options", "SAMEORIGIN")
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.SendString(html)
}

// preview renders a compiled message for the sample recipient; htmlURL is where its
// frames load the HTML part from.
func (s *Server) preview(tpl *mailing.Template, htmlURL string) pages.MessagePreview {
	p := pages.MessagePreview{Sample: previewSample(s.Config.MailFrom, "")}
	r, err := tpl.Render(p.Sample)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	p.Subject, p.Text = r.Subject, r.Text
	if tpl.HasHTML() {
		p.HTMLURL, p.Large = htmlURL, len(r.HTML) > mailing.HTMLClipSize
	}
	return p
}

// compileSaved compiles a saved message with its layout.
func (s *Server) compileSaved(ctx context.Context, m *mailing.Message) (*mailing.Template, error) {
	var layout *mailing.Layout
	if m.LayoutID != nil {
		var err error
		if layout, err = s.Store.LayoutByID(ctx, mailing.Scope{All: true}, *m.LayoutID); err != nil {
			return nil, err
		}
	}
	return mailing.Compile(m, layout)
}

// savedPreview is a saved message's preview. A row from before templates were checked
// may not compile: its error is shown in place of the preview rather than failing the page.
func (s *Server) savedPreview(c *fiber.Ctx, m *mailing.Message) (pages.MessagePreview, error) {
	tpl, err := s.compileSaved(c.UserContext(), m)
	var te *mailing.TemplateError
	if errors.As(err, &te) {
		return pages.MessagePreview{Error: te.Error()}, nil
	} else if err != nil {
		return pages.MessagePreview{}, err
	}
	return s.preview(tpl, messagePath(m.ID)+"/preview"), nil
}

// messageHTML is a saved message's HTML part for the sample recipient, in a frame.
func (s *Server) messageHTML(c *fiber.Ctx) error {
	m, err := s.messages().visible(c)
	if err != nil {
		return err
	}
	tpl, err := s.compileSaved(c.UserContext(), m)
	if err != nil || !tpl.HasHTML() {
		return fiber.ErrNotFound
	}
	r, err := tpl.Render(previewSample(s.Config.MailFrom, ""))
	if err != nil {
		return fiber.ErrNotFound
	}
	return s.sandboxed(c, r.HTML)
}

// messageDraftPreview previews the message form as typed, for the editor's live preview.
func (s *Server) messageDraftPreview(c *fiber.Ctx) error {
	f := messageForm(c, 0)
	_, tpl, err := s.composeMessage(c, f)
	var p pages.MessagePreview
	switch {
	case err == nil:
		token := newToken()
		p = s.preview(tpl, "/messages/preview/"+token)
		if p.HTMLURL != "" {
			r, _ := tpl.Render(p.Sample)
			if err := s.Redis.Client.Set(c.UserContext(), previewKey(currentUser(c).ID, token), r.HTML, previewTTL).Err(); err != nil {
				return err
			}
		}
	case mailing.ErrorCode(err) == mailing.EINVALID:
		var st components.FormState
		if _, err := s.formError(c, &st, err); err != nil {
			return err
		}
		var msgs []string
		for _, m := range st.Errors {
			msgs = append(msgs, m)
		}
		p.Error = strings.Join(msgs, "; ")
	default:
		return err
	}
	panel := pages.PreviewPanel(p)
	return s.render(c, View{Title: s.t(c, "messages.preview"), Content: panel, Partial: panel})
}

// messageDraftHTML serves a draft's HTML stored by messageDraftPreview, to its author only.
func (s *Server) messageDraftHTML(c *fiber.Ctx) error {
	token := c.Params("token")
	if !validToken(token) {
		return fiber.ErrNotFound
	}
	html, err := s.Redis.Client.Get(c.UserContext(), previewKey(currentUser(c).ID, token)).Result()
	if errors.Is(err, redis.Nil) {
		return fiber.ErrNotFound
	} else if err != nil {
		return err
	}
	return s.sandboxed(c, html)
}

// layoutSample is the message a layout is previewed with.
const layoutSample = "# A sample headline\n\nHello {{.Name}}, this is how a message looks in this layout: " +
	"*emphasis*, **strong** and [a link](https://example.com).\n\n- one point\n- another\n"

// layoutHTML is a layout with a sample message set in it, in a frame.
func (s *Server) layoutHTML(c *fiber.Ctx) error {
	l, err := s.layouts().visible(c)
	if err != nil {
		return err
	}
	tpl, err := mailing.Compile(&mailing.Message{Subject: "Sample", Format: mailing.FormatMarkdown, Body: layoutSample}, l)
	if err != nil {
		return fiber.ErrNotFound
	}
	r, err := tpl.Render(previewSample(s.Config.MailFrom, ""))
	if err != nil {
		return fiber.ErrNotFound
	}
	return s.sandboxed(c, r.HTML)
}

// messageTest sends the message, written for the sample recipient, to the signed-in user
// alone: "[Test]" before the subject, no run, nothing in the statistics.
func (s *Server) messageTest(c *fiber.Ctx) error {
	m, err := s.messages().own(c)
	if err != nil {
		return err
	}
	u := currentUser(c)
	back := messagePath(m.ID)
	if err := s.Limiter.Allow(c.UserContext(), "test-send", s.Config.RateTestSend, strconv.FormatInt(u.ID, 10)); err != nil {
		s.flash(c, "error", "error.rate_limited")
		return s.redirect(c, back)
	}
	tpl, err := s.compileSaved(c.UserContext(), m)
	if err != nil {
		return err
	}
	r, err := tpl.Render(previewSample(s.Config.MailFrom, u.Email))
	if err != nil {
		return err
	}
	_, err = s.Mail.Send(c.UserContext(), mail.Message{From: s.Config.MailFrom, To: u.Email,
		Subject: "[Test] " + r.Subject, Text: r.Text, HTML: r.HTML, Date: s.Clock.Now()})
	if err != nil {
		s.Log.Info("test send failed", "request_id", requestIDOf(c), "user_id", u.ID, "message_id", m.ID, "err", err)
		s.flash(c, "error", "messages.test_failed", map[string]any{"Email": u.Email})
		return s.redirect(c, back)
	}
	s.flash(c, "success", "messages.test_sent", map[string]any{"Email": u.Email})
	return s.redirect(c, back)
}
