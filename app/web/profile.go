package web

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"mailer/views/pages"
)

func (s *Server) profileForm(c *fiber.Ctx, f pages.ProfileForm, status int) error {
	f.Languages = s.catalogLanguages()
	f.Zones = pages.CommonZones
	return s.render(c, View{Title: s.t(c, "profile.title"), Content: pages.ProfilePage(f), Partial: pages.ProfileFormFields(f), Status: status})
}

func (s *Server) profilePage(c *fiber.Ctx) error {
	u := currentUser(c)
	tz := u.Timezone
	if tz == "" {
		tz = s.Config.DefaultTimezone.String()
	}
	return s.profileForm(c, pages.ProfileForm{Email: u.Email, Language: page(c).Lang, Timezone: tz}, fiber.StatusOK)
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
		return s.profileForm(c, f, fiber.StatusUnprocessableEntity)
	}
	if err := s.Store.SetProfile(c.UserContext(), u.ID, f.Language, f.Timezone); err != nil {
		return err
	}
	s.setCookie(c, cookieLang, f.Language, 365*24*time.Hour)
	// The flash is read on the next page, in the newly chosen language.
	page(c).Lang = f.Language
	c.SetUserContext(withLanguage(c.UserContext(), s.Catalog.For(f.Language)))
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
