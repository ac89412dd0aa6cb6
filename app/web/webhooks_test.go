package web_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailer/app/bounce/snstest"
	"mailer/app/mailing"
	"mailer/app/testutil"
)

const (
	hookSecret   = "0123456789abcdef-hook-secret"
	mailgunKey   = "key-mailgun-0123456789"
	sesTopic     = "arn:aws:sns:us-east-1:123456789012:ses-bounces"
	sendGridPub  = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
	sendGridPriv = "MHcCAQEEIEQmZgBEh9DcU9zMl34czK3xov4AYvm9P3r7rNB2dNXtoAoGCCqGSM49AwEHoUQDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
)

// hookFixture is a server with every bounce webhook on, an owner with clients, and a run
// of a mailing to them (so Message-IDs name real deliveries).
type hookFixture struct {
	t       *testing.T
	srv     *testutil.Server
	ctx     context.Context
	owner   int64
	other   int64 // a second user with a client of the same address
	run     *mailing.Run
	mailing int64
	deliv   map[string]int64 // delivery id by email
	browser *browser         // the owner, signed in
}

func newHookFixture(t *testing.T, env map[string]string) *hookFixture {
	t.Helper()
	if env == nil {
		env = map[string]string{
			"BOUNCE_WEBHOOK_SECRET": hookSecret, "MAILGUN_WEBHOOK_SIGNING_KEY": mailgunKey,
			"BOUNCE_SES_TOPIC_ARNS": sesTopic, "SENDGRID_WEBHOOK_VERIFICATION_KEY": sendGridPub,
		}
	}
	f := &hookFixture{t: t, srv: testutil.StartServer(t, testutil.ServerOptions{Env: env}), ctx: context.Background(), deliv: map[string]int64{}}
	st := f.srv.App.Store
	// Signed timestamps are checked against the app's clock: keep it at the real time.
	f.srv.Clock.Set(time.Now().UTC())
	f.browser = account(t, f.srv, "owner@example.com", false)
	for i, email := range []string{"owner@example.com", "other@example.com"} {
		u, err := st.UserByEmail(f.ctx, email)
		if i == 1 {
			u = &mailing.User{Email: email}
			err = st.CreateUser(f.ctx, u)
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			f.owner = u.ID
		} else {
			f.other = u.ID
		}
	}
	var ids []int64
	for _, email := range []string{"jane@example.com", "alice@example.com", "john@example.com", "example@test.com", "spam@test.com", "soft@example.com"} {
		c := &mailing.Client{OwnerID: f.owner, Email: email}
		c.Validate()
		if err := st.CreateClient(f.ctx, c); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	shared := &mailing.Client{OwnerID: f.other, Email: "john@example.com"}
	shared.Validate()
	if err := st.CreateClient(f.ctx, shared); err != nil {
		t.Fatal(err)
	}
	msg := &mailing.Message{OwnerID: f.owner, Subject: "Hi", Body: "Hello"}
	msg.Validate()
	if err := st.CreateMessage(f.ctx, msg); err != nil {
		t.Fatal(err)
	}
	now := f.srv.Clock.Now()
	m := &mailing.Mailing{OwnerID: f.owner, MessageID: msg.ID, StartAt: now.Add(-time.Hour), EndAt: now.Add(24 * time.Hour), Period: mailing.PeriodNone}
	if err := st.SaveMailing(f.ctx, m, mailing.Recipients{ClientIDs: ids}); err != nil {
		t.Fatal(err)
	}
	f.mailing = m.ID
	run, err := st.CreateRun(f.ctx, m, mailing.RunManual, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.run = run
	var rows []struct {
		ID    int64
		Email string
	}
	if err := st.DB.NewSelect().TableExpr("deliveries").Column("id", "email").Where("run_id = ?", run.ID).Scan(f.ctx, &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		f.deliv[r.Email] = r.ID
	}
	return f
}

func (f *hookFixture) messageID(email string) string {
	return "<" + mailing.MessageID(f.deliv[email], f.run.ID, "inst1", "example.com") + ">"
}

func (f *hookFixture) post(path string, body []byte, header ...string) (int, string) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// bounces lists the stored bounces as "owner:email:kind:delivery" (delivery 0 when none).
func (f *hookFixture) bounces() []string {
	f.t.Helper()
	var rows []struct {
		OwnerID    int64
		Email      string
		Kind       string
		DeliveryID *int64
	}
	if err := f.srv.App.Store.DB.NewSelect().TableExpr("bounces").Column("owner_id", "email", "kind", "delivery_id").OrderExpr("id").Scan(f.ctx, &rows); err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		d := int64(0)
		if r.DeliveryID != nil {
			d = *r.DeliveryID
		}
		who := "owner"
		if r.OwnerID == f.other {
			who = "other"
		}
		out = append(out, who+":"+r.Email+":"+r.Kind+":"+strconv.FormatInt(d, 10))
	}
	return out
}

func (f *hookFixture) suppressed(owner int64) map[string]string {
	f.t.Helper()
	page, err := f.srv.App.Store.ListSuppressions(f.ctx, mailing.Scope{UserID: owner}, mailing.ListParams{Limit: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range page.Items {
		out[s.Email] = s.Reason
	}
	return out
}

func hookSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../bounce/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGenericBounceWebhook(t *testing.T) {
	f := newHookFixture(t, nil)
	auth := "Authorization"
	good := func(email, typ, msgID string) []byte {
		b, _ := json.Marshal(map[string]any{"email": email, "type": typ, "reason": "550 5.1.1 no such user", "message_id": msgID})
		return b
	}
	// Refused: no or a wrong secret (401), bad JSON, unknown type (400); nothing stored.
	for _, c := range []struct {
		body   []byte
		header []string
		want   int
	}{
		{good("jane@example.com", "hard", ""), nil, 401},
		{good("jane@example.com", "hard", ""), []string{auth, "Bearer " + hookSecret + "x"}, 401},
		{good("jane@example.com", "hard", ""), []string{auth, "Bearer " + hookSecret[:10]}, 401},
		{[]byte(`{"email":"jane@example.com","type":"hard"`), []string{auth, "Bearer " + hookSecret}, 400},
		{good("jane@example.com", "bounced", ""), []string{auth, "Bearer " + hookSecret}, 400},
		{[]byte(`{"type":"hard"}`), []string{auth, "Bearer " + hookSecret}, 400},
		{append(append([]byte(`{"email":"jane@example.com","type":"hard","reason":"`), bytes.Repeat([]byte("x"), 1<<20)...), `"}`...), []string{auth, "Bearer " + hookSecret}, 413},
	} {
		if status, body := f.post("/webhooks/bounces", c.body, c.header...); status != c.want {
			t.Errorf("%.60s: %d %.200s, want %d", c.body, status, body, c.want)
		}
	}
	if got := f.bounces(); len(got) != 0 {
		t.Fatalf("refused requests stored %v", got)
	}
	if n := strings.Count(f.srv.Logs.String(), "bounce webhook refused"); n != 6 {
		t.Errorf("%d refusals logged, want one per refused request (6; the oversized one is refused before routing)", n)
	}
	if strings.Contains(f.srv.Logs.String(), hookSecret) {
		t.Error("the log holds the webhook secret")
	}

	// A Message-ID names the exact delivery; without one the address counts for every owner.
	status, body := f.post("/webhooks/bounces", good("jane@example.com", "hard", f.messageID("jane@example.com")), auth, "Bearer "+hookSecret)
	if status != 200 || !strings.Contains(body, `"recorded":1`) {
		t.Fatalf("good report: %d %s", status, body)
	}
	f.post("/webhooks/bounces", good("john@example.com", "complaint", ""), auth, "Bearer "+hookSecret)
	// A Message-ID of another address is not trusted for the delivery: the address is used.
	f.post("/webhooks/bounces", good("soft@example.com", "soft", f.messageID("jane@example.com")), auth, "Bearer "+hookSecret)
	want := []string{
		"owner:jane@example.com:hard:" + strconv.FormatInt(f.deliv["jane@example.com"], 10),
		"owner:john@example.com:complaint:0", "other:john@example.com:complaint:0",
		"owner:soft@example.com:soft:0",
	}
	if got := f.bounces(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("bounces = %v, want %v", got, want)
	}
	sup := f.suppressed(f.owner)
	if sup["jane@example.com"] != mailing.SuppressHardBounce || sup["john@example.com"] != mailing.SuppressComplaint || sup["soft@example.com"] != "" {
		t.Fatalf("owner's suppressions = %v", sup)
	}
	if f.suppressed(f.other)["john@example.com"] != mailing.SuppressComplaint {
		t.Fatal("the other owner's client was not suppressed")
	}
	// The soft policy: the third soft bounce within the window suppresses.
	f.post("/webhooks/bounces", good("soft@example.com", "soft", ""), auth, "Bearer "+hookSecret)
	f.post("/webhooks/bounces", good("soft@example.com", "soft", ""), auth, "Bearer "+hookSecret)
	if f.suppressed(f.owner)["soft@example.com"] != mailing.SuppressSoftBounces {
		t.Fatal("three soft bounces did not suppress")
	}
	// An address nobody has is answered but matches nothing.
	if status, body := f.post("/webhooks/bounces", good("stranger@example.com", "hard", ""), auth, "Bearer "+hookSecret); status != 200 || !strings.Contains(body, `"unmatched":1`) {
		t.Fatalf("unknown address: %d %s", status, body)
	}
	// The provider routes are off until configured.
	if status, _ := f.post("/webhooks/bounces/postmark", hookSample(t, "postmark_bounce.json"), "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("x:"+hookSecret))); status != 200 {
		t.Fatalf("postmark with the shared secret: %d", status)
	}
}

func TestBounceWebhooksAreOffWithoutTheirSecretsAndOutsideCSRF(t *testing.T) {
	f := newHookFixture(t, map[string]string{})
	for _, p := range []string{"/webhooks/bounces", "/webhooks/bounces/ses", "/webhooks/bounces/mailgun", "/webhooks/bounces/sendgrid", "/webhooks/bounces/postmark", "/webhooks/bounces/other"} {
		if status, _ := f.post(p, []byte(`{}`), "Authorization", "Bearer "+hookSecret); status != 404 {
			t.Errorf("%s without configuration: %d, want 404", p, status)
		}
	}
	g := newHookFixture(t, map[string]string{"BOUNCE_WEBHOOK_SECRET": hookSecret, "RATE_LIMIT_WEBHOOK": "3/1m"})
	body := []byte(`{"email":"jane@example.com","type":"soft","reason":"x"}`)
	// No session cookie and no CSRF token are needed; past the rate, 429.
	for i, want := range []int{200, 200, 200, 429} {
		if status, resp := g.post("/webhooks/bounces", body, "Authorization", "Bearer "+hookSecret); status != want {
			t.Fatalf("request %d: %d %s, want %d", i+1, status, resp, want)
		}
	}
	if n := len(g.bounces()); n != 3 {
		t.Fatalf("%d bounces stored, want 3", n)
	}
}

func TestProviderBounceWebhooks(t *testing.T) {
	f := newHookFixture(t, map[string]string{
		"BOUNCE_WEBHOOK_SECRET": hookSecret, "MAILGUN_WEBHOOK_SIGNING_KEY": mailgunKey, "BOUNCE_SES_TOPIC_ARNS": sesTopic,
		"SENDGRID_WEBHOOK_VERIFICATION_KEY": sendGridPub, "POSTMARK_WEBHOOK_USER": "pm", "POSTMARK_WEBHOOK_PASSWORD": "pm-password",
	})
	fake := snstest.Start(t)
	f.srv.App.Webhooks.SNS.HTTP = fake.Client
	now := time.Now()
	expect := func(what string, status int, body string, want int) {
		t.Helper()
		if status != want {
			t.Errorf("%s: %d %.300s, want %d", what, status, body, want)
		}
	}

	// SES through SNS: the documented sample, its Message-ID replaced by one of ours.
	sesBody := strings.Replace(string(hookSample(t, "ses_bounce.json")), "custom-message-ID", f.messageID("jane@example.com"), -1)
	note := fake.Notification(sesTopic, "sns-1", sesBody, now)
	s, b := f.post("/webhooks/bounces/ses", note.JSON())
	expect("ses bounce", s, b, 200)
	s, b = f.post("/webhooks/bounces/ses", note.JSON())
	expect("ses replay", s, b, 409)
	forged := note
	forged.MessageId = "sns-2"
	s, b = f.post("/webhooks/bounces/ses", forged.JSON())
	expect("ses forged", s, b, 401)
	s, b = f.post("/webhooks/bounces/ses", []byte(`{"Type":`))
	expect("ses malformed", s, b, 400)
	s, b = f.post("/webhooks/bounces/ses", fake.Confirmation(sesTopic, "sns-3", "tok", now).JSON())
	expect("ses subscription", s, b, 200)
	if len(fake.Confirmed()) != 1 {
		t.Errorf("subscription not confirmed: %v", fake.Confirmed())
	}

	// Mailgun: the documented sample, signed with our key.
	mg := func(name, token string, key string) []byte {
		var v map[string]any
		json.Unmarshal(hookSample(t, name), &v)
		stamp := strconv.FormatInt(now.Unix(), 10)
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(stamp + token))
		v["signature"] = map[string]any{"timestamp": stamp, "token": token, "signature": hex.EncodeToString(m.Sum(nil))}
		out, _ := json.Marshal(v)
		return out
	}
	s, b = f.post("/webhooks/bounces/mailgun", mg("mailgun_failed_permanent.json", "t-1", mailgunKey))
	expect("mailgun failed", s, b, 200)
	s, b = f.post("/webhooks/bounces/mailgun", mg("mailgun_failed_permanent.json", "t-1", mailgunKey))
	expect("mailgun replay", s, b, 409)
	s, b = f.post("/webhooks/bounces/mailgun", mg("mailgun_complained.json", "t-2", "another-key"))
	expect("mailgun forged", s, b, 401)
	s, b = f.post("/webhooks/bounces/mailgun", []byte(`{"signature":{}}`))
	expect("mailgun malformed", s, b, 400)

	// SendGrid: the documented events, signed with SendGrid's documented test key.
	der, _ := base64.StdEncoding.DecodeString(sendGridPriv)
	priv, err := x509.ParseECPrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	sgBody := hookSample(t, "sendgrid_events.json")
	stamp := strconv.FormatInt(now.Unix(), 10)
	sum := sha256.Sum256(append([]byte(stamp), sgBody...))
	sig, _ := ecdsa.SignASN1(rand.Reader, priv, sum[:])
	sgHeaders := []string{"X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig), "X-Twilio-Email-Event-Webhook-Timestamp", stamp}
	s, b = f.post("/webhooks/bounces/sendgrid", sgBody, sgHeaders...)
	expect("sendgrid events", s, b, 200)
	s, b = f.post("/webhooks/bounces/sendgrid", sgBody, sgHeaders...)
	expect("sendgrid replay", s, b, 409)
	s, b = f.post("/webhooks/bounces/sendgrid", bytes.Replace(sgBody, []byte("spam@test.com"), []byte("jane@example.com"), 1), sgHeaders...)
	expect("sendgrid forged", s, b, 401)

	// Postmark: basic auth with the configured user (the shared secret no longer does).
	pmAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("pm:pm-password"))
	s, b = f.post("/webhooks/bounces/postmark", hookSample(t, "postmark_bounce.json"), "Authorization", pmAuth)
	expect("postmark bounce", s, b, 200)
	s, b = f.post("/webhooks/bounces/postmark", hookSample(t, "postmark_bounce.json"), "Authorization", pmAuth)
	expect("postmark replay", s, b, 409)
	s, b = f.post("/webhooks/bounces/postmark", hookSample(t, "postmark_spam_complaint.json"), "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("x:"+hookSecret)))
	expect("postmark forged", s, b, 401)
	s, b = f.post("/webhooks/bounces/postmark", []byte(`[]`), "Authorization", pmAuth)
	expect("postmark malformed", s, b, 400)

	want := []string{
		"owner:jane@example.com:hard:" + strconv.FormatInt(f.deliv["jane@example.com"], 10), // SES, by Message-ID
		"owner:alice@example.com:hard:0",  // Mailgun (its own Message-ID), by address
		"owner:example@test.com:hard:0",   // SendGrid bounce
		"owner:spam@test.com:complaint:0", // SendGrid spam report (blocked@test.com is nobody's)
		"owner:john@example.com:hard:0",   // Postmark, for both owners of the address
		"other:john@example.com:hard:0",
	}
	if got := f.bounces(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("bounces =\n%v\nwant\n%v", got, want)
	}
	sup := f.suppressed(f.owner)
	for email, reason := range map[string]string{"jane@example.com": "hard_bounce", "alice@example.com": "hard_bounce",
		"example@test.com": "hard_bounce", "spam@test.com": "complaint", "john@example.com": "hard_bounce"} {
		if sup[email] != reason {
			t.Errorf("suppression of %s = %q, want %q", email, sup[email], reason)
		}
	}
}

// Item 7: the mailing page counts its bounces and complaints, whatever reported them; a
// manager sees every owner's suppressions (with the owner) and may change none of them.
func TestMailingPageCountsBouncesAndManagersSeeSuppressionsReadOnly(t *testing.T) {
	f := newHookFixture(t, nil)
	page := f.browser.get("/mailings/" + itoa(f.mailing))
	if !strings.Contains(page.Body, `<dd id="bounces">0 hard, 0 soft bounces; 0 complaints</dd>`) {
		t.Fatalf("mailing page before any bounce: %.3000s", page.Body)
	}
	for _, r := range []struct{ email, kind string }{{"jane@example.com", "hard"}, {"alice@example.com", "soft"}, {"john@example.com", "complaint"}, {"spam@test.com", "complaint"}} {
		body, _ := json.Marshal(map[string]string{"email": r.email, "type": r.kind, "reason": "r", "message_id": f.messageID(r.email)})
		if status, resp := f.post("/webhooks/bounces", body, "Authorization", "Bearer "+hookSecret); status != 200 {
			t.Fatalf("%s: %d %s", r.email, status, resp)
		}
	}
	page = f.browser.get("/mailings/" + itoa(f.mailing))
	if !strings.Contains(page.Body, `<dd id="bounces">1 hard, 1 soft bounces; 2 complaints</dd>`) {
		t.Fatalf("mailing page after the webhooks: %.3000s", page.Body)
	}

	mgr := account(t, f.srv, "boss@example.com", true)
	list := mgr.get("/suppressions")
	if !strings.Contains(list.Body, "jane@example.com") || !strings.Contains(list.Body, "owner@example.com") || strings.Contains(list.Body, "/delete") {
		t.Fatalf("manager's suppressions: %.3000s", list.Body)
	}
	sup, err := f.srv.App.Store.ListSuppressions(f.ctx, mailing.Scope{UserID: f.owner}, mailing.ListParams{Q: "jane"})
	if err != nil || len(sup.Items) != 1 {
		t.Fatal(sup, err)
	}
	id := itoa(sup.Items[0].ID)
	if r := mgr.get("/suppressions/" + id); r.StatusCode != 200 || !strings.Contains(r.Body, "jane@example.com") {
		t.Fatalf("manager opens a suppression: %d", r.StatusCode)
	}
	if r := mgr.post("/suppressions/"+id+"/delete", nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("manager removes a suppression: %d", r.StatusCode)
	}
	// A manager's own additions go to the manager's own list, never to another owner's.
	mgr.post("/suppressions/new", url.Values{"email": {"x@example.com"}})
	if own, _ := f.srv.App.Store.ListSuppressions(f.ctx, mailing.Scope{UserID: f.owner}, mailing.ListParams{Q: "x@"}); len(own.Items) != 0 {
		t.Fatal("a manager's suppression landed on another owner's list")
	}
	if after, _ := f.srv.App.Store.ListSuppressions(f.ctx, mailing.Scope{UserID: f.owner}, mailing.ListParams{Q: "jane"}); len(after.Items) != 1 {
		t.Fatal("the manager's delete went through")
	}
}
