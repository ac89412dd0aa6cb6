package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"mailer/app/testutil"
)

// With SMTP configured (no development mail printout), the log tells the story of an
// account without ever holding a password, a token, a cookie or a credential.
func TestLogsHoldNoSecrets(t *testing.T) {
	sink := testutil.StartSMTP(t)
	smtpURL := strings.Replace(sink.URL(), "smtp://", "smtp://mailuser:smtp-secret-pw@", 1)
	srv := testutil.StartServer(t, testutil.ServerOptions{Worker: true, Env: map[string]string{"SMTP_URL": smtpURL}})
	const password, newPassword = "first secret password", "second secret password"

	b := newBrowser(t, srv)
	b.post("/register", url.Values{"email": {"log@example.com"}, "password": {password}})
	confirm := linkIn(t, sink.WaitFor(t, 1, 10*time.Second)[0].Text)
	b.get(pathOf(confirm))
	b.post("/login", url.Values{"email": {"log@example.com"}, "password": {password}})
	b.get("/")
	b.post("/logout", nil)
	b.get("/login")
	b.post("/login", url.Values{"email": {"log@example.com"}, "password": {"wrong password here"}})
	b.post("/login", url.Values{"email": {"log@example.com"}, "password": {password}})
	b.get("/")
	session, csrf := b.cookie("mailer_session"), b.csrf
	b.post("/password/reset", url.Values{"email": {"log@example.com"}})
	msgs := sink.WaitFor(t, 2, 10*time.Second)
	reset := linkIn(t, msgs[len(msgs)-1].Text)
	newBrowser(t, srv).post(pathOf(reset), url.Values{"password": {newPassword}})

	id := mailingFor(t, srv, "log@example.com", 2)
	c := newBrowser(t, srv)
	c.post("/login", url.Values{"email": {"log@example.com"}, "password": {newPassword}})
	c.get("/")
	c.post("/mailings/"+itoa(id)+"/send", nil)
	sent := sink.WaitFor(t, 4, 10*time.Second)
	unsub := strings.Trim(sent[len(sent)-1].Header.Get("List-Unsubscribe"), "<>")
	newBrowser(t, srv).postRaw(pathOf(unsub), url.Values{"List-Unsubscribe": {"One-Click"}})
	testutil.Eventually(t, 10*time.Second, "the run to finish in the log", func() bool {
		return strings.Contains(srv.Logs.String(), "run finished")
	})

	logs := srv.Logs.String()
	for _, event := range []string{"user signed up", "user confirmed", "signed in", "sign-in failed", "signed out",
		"password reset requested", "password reset", "run started", "run finished", "client unsubscribed"} {
		if !strings.Contains(logs, event) {
			t.Errorf("log lacks the event %q", event)
		}
	}
	for name, secret := range map[string]string{
		"password": password, "new password": newPassword, "wrong password": "wrong password here",
		"confirmation token": pathOf(confirm)[len("/confirm/"):], "reset token": pathOf(reset)[len("/password/reset/"):],
		"unsubscribe token": pathOf(unsub)[len("/unsubscribe/"):], "session cookie": session, "CSRF token": csrf,
		"SMTP password": "smtp-secret-pw",
	} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("the log holds the %s", name)
		}
	}
}
