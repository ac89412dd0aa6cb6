package web

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"mailer/app/i18n"
	"mailer/views/pages"
)

// profileStore is what the account page needs of the database.
type profileStore interface {
	SetProfile(ctx context.Context, id int64, lang, tz string) error
}

// profileForm renders the account page with f; sub, when not nil, changes the subscribe
// form's part (a refused change shown in place).
func (s *Server) profileForm(c *fiber.Ctx, f pages.ProfileForm, sub func(*pages.SubscribeSettings), status int) error {
	f.Languages = s.catalogLanguages()
	f.Zones = pages.CommonZones
	var err error
	if f.Subscribe, _, err = s.subscribeSettings(c); err != nil {
		return err
	}
	if sub != nil {
		sub(&f.Subscribe)
	}
	return s.render(c, View{Title: s.t(c, "profile.title"), Content: pages.ProfilePage(f), Partial: pages.ProfileFormFields(f), Status: status})
}

// profileDefaults is the profile form as saved.
func (s *Server) profileDefaults(c *fiber.Ctx) pages.ProfileForm {
	u := currentUser(c)
	tz := u.Timezone
	if tz == "" {
		tz = s.Config.DefaultTimezone.String()
	}
	return pages.ProfileForm{Email: u.Email, Language: page(c).Lang, Timezone: tz}
}

func (s *Server) profilePage(c *fiber.Ctx) error {
	return s.profileForm(c, s.profileDefaults(c), nil, fiber.StatusOK)
}

// profileUpdate saves the language and time zone. Datetimes are entered and shown in this
// zone and stored in UTC.
func (s *Server) profileUpdate(c *fiber.Ctx) error {
	u := currentUser(c)
	f := s.profileFromForm(c)
	f.Email = u.Email
	for field, id := range f.Errors {
		f.Errors[field] = s.t(c, id)
	}
	if len(f.Errors) > 0 {
		return s.profileForm(c, f, nil, fiber.StatusUnprocessableEntity)
	}
	if err := s.Store.SetProfile(c.UserContext(), u.ID, f.Language, f.Timezone); err != nil {
		return err
	}
	s.setCookie(c, cookieLang, f.Language, 365*24*time.Hour)
	// The flash is read on the next page, in the newly chosen language.
	page(c).Lang = f.Language
	c.SetUserContext(i18n.WithLocalizer(c.UserContext(), s.Catalog.For(f.Language)))
	s.flash(c, "success", "profile.saved")
	return s.redirect(c, "/account")
}

// profileFromForm reads and checks the profile form. Errors holds message ids, which the
// handler translates: kept apart from the handler (which needs a user and the store) so
// FuzzProfileForm can reach it.
func (s *Server) profileFromForm(c *fiber.Ctx) pages.ProfileForm {
	f := pages.ProfileForm{Language: c.FormValue("language"), Timezone: c.FormValue("timezone"), Errors: map[string]string{}}
	if !s.Catalog.Supported(f.Language) {
		f.Errors["language"] = "profile.bad_language"
	}
	// "" and "Local" load too (as UTC and the server's own zone) but name no zone.
	if _, err := time.LoadLocation(f.Timezone); err != nil || f.Timezone == "" || f.Timezone == "Local" {
		f.Errors["timezone"] = "profile.bad_timezone"
	}
	return f
}
