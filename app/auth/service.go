package auth

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"mailer/app/config"
	"mailer/app/i18n"
	"mailer/app/mail"
	"mailer/app/mailing"
	"mailer/app/store"
)

// SessionTTL is how long a sign-in lasts.
const SessionTTL = 30 * 24 * time.Hour

// Service is every account operation the web layer and the CLI perform.
type Service struct {
	Store   *store.Store
	Mail    mail.Sender
	Catalog *i18n.Catalog
	Config  config.Config
	Limiter *Limiter
	Log     *slog.Logger

	mails sync.WaitGroup
}

// Close waits for emails still being sent.
func (s *Service) Close() { s.mails.Wait() }

func invalid(fields map[string]string) error {
	return &mailing.Error{Code: mailing.EINVALID, Message: "validation.form", Fields: fields}
}

// Register creates an unconfirmed account and emails its confirmation link. When the email
// is already registered it answers exactly as for a new one and emails the owner of that
// address instead, so the form reveals nothing about who has an account.
func (s *Service) Register(ctx context.Context, email, password, lang string) error {
	fields := map[string]string{}
	email, ok := mailing.NormalizeEmail(email)
	if !ok {
		fields["email"] = "validation.email"
	}
	if msg := mailing.ValidatePassword(password, email); msg != "" {
		fields["password"] = msg
	}
	if len(fields) > 0 {
		return invalid(fields)
	}
	// Hash before looking the address up: both paths then cost the same.
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	u := &mailing.User{Email: email, PasswordHash: hash, Language: lang}
	err = s.Store.CreateUser(ctx, u)
	if mailing.ErrorCode(err) == mailing.ECONFLICT {
		existing, err := s.Store.UserByEmail(ctx, email)
		if err != nil {
			return err
		}
		if !existing.Confirmed() && !existing.Blocked() {
			// Nobody has proved this address yet: the newest sign-up's password replaces the
			// earlier one and a fresh link goes out, so a stranger who registered the
			// address first cannot sign in once its owner confirms.
			replaced, err := s.Store.ReplaceUnconfirmedPassword(ctx, existing.ID, hash, lang)
			if err != nil {
				return err
			}
			if replaced {
				s.Log.Info("user signed up again before confirming", "user_id", existing.ID)
				existing.Language = lang
				return s.sendConfirmation(ctx, existing)
			}
		}
		s.sendMail(existing.Email, userLang(existing, lang), "email.exists", map[string]any{
			"Link": s.link("/login"), "ResetLink": s.link("/password/reset"),
		})
		return nil
	} else if err != nil {
		return err
	}
	s.Log.Info("user signed up", "user_id", u.ID)
	return s.sendConfirmation(ctx, u)
}

func (s *Service) sendConfirmation(ctx context.Context, u *mailing.User) error {
	token, hash := NewToken()
	if err := s.Store.CreateToken(ctx, u.ID, mailing.TokenConfirm, hash, mailing.ConfirmTokenTTL); err != nil {
		return err
	}
	s.sendMail(u.Email, userLang(u, ""), "email.confirm", map[string]any{"Link": s.link("/confirm/" + token)})
	return nil
}

// Confirm spends a confirmation link and activates its account. It starts no session: a
// link anyone could have had sent to the address (or sent to a victim, for an account of
// their own) must not sign a browser in; the account's password does that.
func (s *Service) Confirm(ctx context.Context, token string) (*mailing.User, error) {
	uid, err := s.Store.UseToken(ctx, mailing.TokenConfirm, HashToken(token))
	if err != nil {
		return nil, err
	}
	if err := s.Store.ConfirmUser(ctx, uid); err != nil {
		return nil, err
	}
	s.Log.Info("user confirmed", "user_id", uid)
	return s.Store.UserByID(ctx, uid)
}

// Sign-in refusals. The message for a wrong email or password is the same.
var (
	ErrBadCredentials = &mailing.Error{Code: mailing.EUNAUTHORIZED, Message: "auth.bad_credentials"}
	ErrUnconfirmed    = &mailing.Error{Code: mailing.EFORBIDDEN, Message: "auth.unconfirmed"}
	ErrBlocked        = &mailing.Error{Code: mailing.EFORBIDDEN, Message: "auth.blocked"}
)

// SignIn is a sign-in attempt from ip: Authenticate behind the throttling policy.
//
//   - Per address: every attempt counts against RATE_LIMIT_LOGIN, whatever the account.
//   - Per account: only failures count, and per (account, address) pair. A pair with
//     RATE_LIMIT_LOGIN's N failures in its window is refused until the window ends; other
//     addresses are not. Counting per account alone let anyone lock the owner out with a
//     few wrong guesses from anywhere, so a correct password from an address with no recent
//     failures always signs in.
func (s *Service) SignIn(ctx context.Context, email, password, ip string) (*mailing.User, error) {
	rate := s.Config.RateLogin
	if err := s.Limiter.Allow(ctx, "login", rate, ip); err != nil {
		return nil, err
	}
	norm, _ := mailing.NormalizeEmail(email)
	pair := norm + "\x00" + ip
	if err := s.Limiter.Over(ctx, "login-fail", rate, pair); err != nil {
		s.Log.Info("sign-in throttled", "reason", "failures from this address")
		return nil, err
	}
	u, err := s.Authenticate(ctx, email, password)
	if err == ErrBadCredentials {
		s.Limiter.Count(ctx, "login-fail", rate, pair)
	}
	return u, err
}

// Authenticate checks an email and password. Only a caller who knows the password learns
// that an account is unconfirmed or blocked.
func (s *Service) Authenticate(ctx context.Context, email, password string) (*mailing.User, error) {
	email, ok := mailing.NormalizeEmail(email)
	var u *mailing.User
	var err error = mailing.Errorf(mailing.ENOTFOUND, "not an address")
	if ok {
		// Only a valid address is looked up: anything else cannot have an account.
		u, err = s.Store.UserByEmail(ctx, email)
	}
	if err != nil && mailing.ErrorCode(err) != mailing.ENOTFOUND {
		return nil, err
	}
	if err != nil || u.PasswordHash == "" {
		CheckPassword(dummyHash, password) //nolint:errcheck // spends the time a real check takes
		s.Log.Info("sign-in failed", "reason", "unknown account")
		return nil, ErrBadCredentials
	}
	if ok, err := CheckPassword(u.PasswordHash, password); err != nil || !ok {
		s.Log.Info("sign-in failed", "reason", "wrong password", "user_id", u.ID)
		return nil, ErrBadCredentials
	}
	if u.Blocked() {
		s.Log.Info("sign-in refused", "reason", "blocked", "user_id", u.ID)
		return nil, ErrBlocked
	}
	if !u.Confirmed() {
		s.Log.Info("sign-in refused", "reason", "unconfirmed", "user_id", u.ID)
		return nil, ErrUnconfirmed
	}
	return u, nil
}

// StartSession creates a session for u and returns the cookie value (only its hash is stored).
func (s *Service) StartSession(ctx context.Context, u *mailing.User) (string, error) {
	token, hash := NewToken()
	if err := s.Store.CreateSession(ctx, hash, u.ID, SessionTTL); err != nil {
		return "", err
	}
	s.Log.Info("signed in", "user_id", u.ID)
	return token, nil
}

// SessionUser returns the user behind a session cookie; ENOTFOUND when the session is
// unknown, expired, or its user is blocked.
func (s *Service) SessionUser(ctx context.Context, cookie string) (*mailing.User, error) {
	if cookie == "" {
		return nil, mailing.Errorf(mailing.ENOTFOUND, "no session")
	}
	return s.Store.SessionUser(ctx, HashToken(cookie))
}

// EndSession signs a session out.
func (s *Service) EndSession(ctx context.Context, cookie string, userID int64) error {
	s.Log.Info("signed out", "user_id", userID)
	return s.Store.DeleteSession(ctx, HashToken(cookie))
}

// RequestReset emails a reset link when the address has an account, and does nothing
// visible otherwise: the caller answers the same either way.
func (s *Service) RequestReset(ctx context.Context, email, lang string) error {
	email, ok := mailing.NormalizeEmail(email)
	if !ok {
		return invalid(map[string]string{"email": "validation.email"})
	}
	u, err := s.Store.UserByEmail(ctx, email)
	if mailing.ErrorCode(err) == mailing.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if u.Blocked() {
		return nil
	}
	token, hash := NewToken()
	if err := s.Store.CreateToken(ctx, u.ID, mailing.TokenReset, hash, mailing.ResetTokenTTL); err != nil {
		return err
	}
	s.Log.Info("password reset requested", "user_id", u.ID)
	s.sendMail(u.Email, userLang(u, lang), "email.reset", map[string]any{"Link": s.link("/password/reset/" + token)})
	return nil
}

// ResetLinkValid reports whether a reset link can still be used.
func (s *Service) ResetLinkValid(ctx context.Context, token string) bool {
	ok, err := s.Store.TokenValid(ctx, mailing.TokenReset, HashToken(token))
	return err == nil && ok
}

// ErrLinkInvalid is returned for used, expired or unknown links.
var ErrLinkInvalid = &mailing.Error{Code: mailing.ENOTFOUND, Message: "auth.link_invalid"}

// Reset sets a new password through an emailed link. It ends every session of the account:
// whoever asked for the reset may be locking someone else out.
func (s *Service) Reset(ctx context.Context, token, password string) (*mailing.User, error) {
	// The address is known only once the link is used up, so the reset checks length and
	// the common list; sign-up and password change also refuse the address's local part.
	if msg := mailing.ValidatePassword(password, ""); msg != "" {
		return nil, invalid(map[string]string{"password": msg})
	}
	hash, err := HashPassword(password)
	if err != nil {
		return nil, err
	}
	uid, err := s.Store.UseToken(ctx, mailing.TokenReset, HashToken(token))
	if mailing.ErrorCode(err) == mailing.ENOTFOUND {
		return nil, ErrLinkInvalid
	} else if err != nil {
		return nil, err
	}
	if err := s.Store.SetPassword(ctx, uid, hash, ""); err != nil {
		return nil, err
	}
	// Following the link proved the address: an unconfirmed account becomes confirmed.
	if err := s.Store.ConfirmUser(ctx, uid); err != nil {
		return nil, err
	}
	s.Log.Info("password reset", "user_id", uid)
	return s.Store.UserByID(ctx, uid)
}

// ChangePassword asks for the current password and ends the user's other sessions.
func (s *Service) ChangePassword(ctx context.Context, u *mailing.User, sessionCookie, current, next string) error {
	fields := map[string]string{}
	if ok, _ := CheckPassword(u.PasswordHash, current); u.PasswordHash != "" && !ok {
		fields["current_password"] = "auth.wrong_password"
	}
	if msg := mailing.ValidatePassword(next, u.Email); msg != "" {
		fields["password"] = msg
	}
	if len(fields) > 0 {
		return invalid(fields)
	}
	hash, err := HashPassword(next)
	if err != nil {
		return err
	}
	if err := s.Store.SetPassword(ctx, u.ID, hash, HashToken(sessionCookie)); err != nil {
		return err
	}
	s.Log.Info("password changed", "user_id", u.ID)
	return nil
}

// CreateConfirmedUser is the operator's way in: the account is confirmed and active.
func (s *Service) CreateConfirmedUser(ctx context.Context, email, password string, manager bool) (*mailing.User, error) {
	email, ok := mailing.NormalizeEmail(email)
	if !ok {
		return nil, errors.New("not a valid email address: " + email)
	}
	if msg := mailing.ValidatePassword(password, email); msg != "" {
		return nil, errors.New(s.Catalog.Translate("en", msg, nil))
	}
	hash, err := HashPassword(password)
	if err != nil {
		return nil, err
	}
	u := &mailing.User{Email: email, PasswordHash: hash, Language: s.Config.DefaultLanguage}
	if manager {
		u.Role = mailing.RoleManager
	}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		if mailing.ErrorCode(err) == mailing.ECONFLICT {
			return nil, errors.New("a user with this email already exists: " + email)
		}
		return nil, err
	}
	if err := s.Store.ConfirmUser(ctx, u.ID); err != nil {
		return nil, err
	}
	return u, nil
}

func userLang(u *mailing.User, fallback string) string {
	if u != nil && u.Language != "" {
		return u.Language
	}
	return fallback
}

// link builds an absolute URL from BASE_URL, never from the request's Host header, so a
// forged Host cannot put someone else's domain into our emails.
func (s *Service) link(path string) string { return s.Config.BaseURL.String() + path }

// sendMail sends a system email in the background: the request answers in the same time
// whether or not an email goes out, and a slow mail server does not hold the page.
func (s *Service) sendMail(to, lang, key string, data map[string]any) {
	if lang == "" {
		lang = s.Config.DefaultLanguage
	}
	m := mail.Message{
		From:    s.Config.MailFrom,
		To:      to,
		Subject: s.Catalog.Translate(lang, key+".subject", data),
		Text:    s.Catalog.Translate(lang, key+".body", data),
	}
	s.mails.Add(1)
	go func() {
		defer s.mails.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.Mail.Send(ctx, m); err != nil {
			s.Log.Error("system email not sent", "kind", key, "err", err)
		}
	}()
}
