package bounce_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailer/app/bounce"
	"mailer/app/bounce/snstest"
	"mailer/app/config"
	"mailer/app/mailing"
)

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func headers(kv ...string) func(string) string {
	return func(name string) string {
		for i := 0; i+1 < len(kv); i += 2 {
			if strings.EqualFold(kv[i], name) {
				return kv[i+1]
			}
		}
		return ""
	}
}

func TestGenericFormat(t *testing.T) {
	b, err := bounce.ParseGeneric([]byte(`{"email":" Ann@Example.com","type":"hard","reason":"550 5.1.1 no such user","message_id":"<run1.d2@example.com>"}`))
	if err != nil || len(b.Reports) != 1 {
		t.Fatal(b, err)
	}
	if r := b.Reports[0]; r.Email != "ann@example.com" || r.Kind != mailing.BounceHard || r.MessageID != "<run1.d2@example.com>" {
		t.Fatalf("report = %+v", r)
	}
	for _, bad := range []string{
		``, `{`, `[]`, `{"email":"a@example.com","type":"hard"} {}`,
		`{"email":"a@example.com","type":"bounced"}`, `{"email":"a@example.com"}`,
		`{"type":"hard"}`, `{"email":"not an address","type":"hard"}`, `{"email":"a@example.com","type":7}`,
	} {
		if _, err := bounce.ParseGeneric([]byte(bad)); !errors.Is(err, bounce.ErrMalformed) {
			t.Errorf("ParseGeneric(%q) = %v, want ErrMalformed", bad, err)
		}
	}
	if !bounce.BearerOK("Bearer s3cret-s3cret-s3cret", "s3cret-s3cret-s3cret") || bounce.BearerOK("Bearer s3cret", "s3cret-s3cret-s3cret") ||
		bounce.BearerOK("", "") || bounce.BearerOK("Bearer ", "") {
		t.Fatal("BearerOK")
	}
}

// signMailgun replaces a documented sample's signature with one made under key at ts.
func signMailgun(t testing.TB, body []byte, key, token string, ts time.Time) []byte {
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(stamp + token))
	v["signature"] = map[string]any{"timestamp": stamp, "token": token, "signature": hex.EncodeToString(m.Sum(nil))}
	out, _ := json.Marshal(v)
	return out
}

func TestMailgunSamples(t *testing.T) {
	now := time.Now()
	const key = "key-0123456789abcdef"
	req := func(b []byte) bounce.Request { return bounce.Request{Body: b, Header: headers()} }
	// The documented sample, signed with a key we do not have, is a forgery to us.
	if _, err := bounce.ParseMailgun(req(sample(t, "mailgun_failed_permanent.json")), key, now); !errors.Is(err, bounce.ErrForged) {
		t.Fatalf("documented signature under another key: %v", err)
	}
	b, err := bounce.ParseMailgun(req(signMailgun(t, sample(t, "mailgun_failed_permanent.json"), key, "tok-1", now)), key, now)
	if err != nil || b.EventKey != "tok-1" || len(b.Reports) != 1 {
		t.Fatal(b, err)
	}
	if r := b.Reports[0]; r.Email != "alice@example.com" || r.Kind != mailing.BounceHard ||
		r.MessageID != "20130503182626.18666.16540@sandbox.mailgun.org" || !strings.Contains(r.Reason, "605") {
		t.Fatalf("report = %+v", r)
	}
	b, err = bounce.ParseMailgun(req(signMailgun(t, sample(t, "mailgun_complained.json"), key, "tok-2", now)), key, now)
	if err != nil || len(b.Reports) != 1 || b.Reports[0].Kind != mailing.BounceComplaint {
		t.Fatal(b, err)
	}
	temp := strings.Replace(string(sample(t, "mailgun_failed_permanent.json")), `"permanent"`, `"temporary"`, 1)
	if b, _ := bounce.ParseMailgun(req(signMailgun(t, []byte(temp), key, "tok-3", now)), key, now); len(b.Reports) != 1 || b.Reports[0].Kind != mailing.BounceSoft {
		t.Fatalf("temporary failure = %+v", b)
	}
	// A stale timestamp is a replay even with a good signature; a changed body breaks it.
	if _, err := bounce.ParseMailgun(req(signMailgun(t, sample(t, "mailgun_complained.json"), key, "tok-4", now.Add(-25*time.Hour))), key, now); !errors.Is(err, bounce.ErrReplay) {
		t.Fatalf("stale: %v", err)
	}
	signed := signMailgun(t, sample(t, "mailgun_complained.json"), key, "tok-5", now)
	tampered := strings.Replace(string(signed), `"tok-5"`, `"tok-6"`, 1)
	if _, err := bounce.ParseMailgun(req([]byte(tampered)), key, now); !errors.Is(err, bounce.ErrForged) {
		t.Fatalf("tampered token: %v", err)
	}
	for _, bad := range []string{`{}`, `not json`, `{"signature":{"timestamp":"1","token":"t","signature":"s"}}`} {
		if _, err := bounce.ParseMailgun(req([]byte(bad)), key, now); !errors.Is(err, bounce.ErrMalformed) {
			t.Errorf("ParseMailgun(%q) = %v", bad, err)
		}
	}
}

// sendGridTestKey is the private half of SendGrid's documented test verification key, as
// its Go library's tests carry it.
const sendGridTestKey = "MHcCAQEEIEQmZgBEh9DcU9zMl34czK3xov4AYvm9P3r7rNB2dNXtoAoGCCqGSM49AwEHoUQDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="

func signSendGrid(t testing.TB, body []byte, ts time.Time) bounce.Request {
	der, _ := base64.StdEncoding.DecodeString(sendGridTestKey)
	key, err := x509.ParseECPrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	sum := sha256.Sum256(append([]byte(stamp), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return bounce.Request{Body: body, Header: headers("X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig),
		"X-Twilio-Email-Event-Webhook-Timestamp", stamp)}
}

func TestSendGridSamples(t *testing.T) {
	vec := strings.Split(strings.TrimSpace(string(sample(t, "sendgrid_signed_test_vector.txt"))), "\n")[2:]
	key, err := config.ParseECDSAPublicKey(vec[0])
	if err != nil {
		t.Fatal(err)
	}
	// SendGrid's own test vector verifies (a test event: nothing to record).
	stamp, _ := strconv.ParseInt(vec[1], 10, 64)
	at := time.Unix(stamp, 0)
	doc := bounce.Request{Body: []byte(vec[3]), Header: headers("X-Twilio-Email-Event-Webhook-Signature", vec[2], "X-Twilio-Email-Event-Webhook-Timestamp", vec[1])}
	if b, err := bounce.ParseSendGrid(doc, key, at); err != nil || len(b.Reports) != 0 {
		t.Fatalf("documented vector: %+v, %v", b, err)
	}
	// …and fails with a byte of the payload or the timestamp changed, or a day later.
	for _, forged := range []bounce.Request{
		{Body: []byte(strings.Replace(vec[3], "test_event", "test_evenT", 1)), Header: doc.Header},
		{Body: doc.Body, Header: headers("X-Twilio-Email-Event-Webhook-Signature", vec[2], "X-Twilio-Email-Event-Webhook-Timestamp", "1588788368")},
		{Body: doc.Body, Header: headers("X-Twilio-Email-Event-Webhook-Timestamp", vec[1])},
	} {
		if _, err := bounce.ParseSendGrid(forged, key, at); !errors.Is(err, bounce.ErrForged) {
			t.Errorf("forged: %v", err)
		}
	}
	if _, err := bounce.ParseSendGrid(doc, key, at.Add(25*time.Hour)); !errors.Is(err, bounce.ErrReplay) {
		t.Errorf("a day later: %v", err)
	}

	now := time.Now()
	b, err := bounce.ParseSendGrid(signSendGrid(t, sample(t, "sendgrid_events.json"), now), key, now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range b.Reports {
		got = append(got, r.Email+"="+r.Kind)
	}
	if strings.Join(got, " ") != "example@test.com=hard blocked@test.com=soft spam@test.com=complaint" || b.Reports[0].MessageID != "<14c5d75ce93.dfd.64b469@ismtpd-555>" {
		t.Fatalf("reports = %v (%+v)", got, b.Reports)
	}
	if b.EventKey == "" {
		t.Fatal("no replay key")
	}
	if _, err := bounce.ParseSendGrid(signSendGrid(t, []byte(`{"event":"bounce"}`), now), key, now); !errors.Is(err, bounce.ErrMalformed) {
		t.Fatalf("a bounce without an address: %v", err)
	}
}

func TestPostmarkSamples(t *testing.T) {
	b, err := bounce.ParsePostmark(sample(t, "postmark_bounce.json"))
	if err != nil || b.EventKey != "4323372036854775807" || len(b.Reports) != 1 || b.Reports[0].Kind != mailing.BounceHard || b.Reports[0].Email != "john@example.com" {
		t.Fatal(b, err)
	}
	b, err = bounce.ParsePostmark(sample(t, "postmark_spam_complaint.json"))
	if err != nil || len(b.Reports) != 1 || b.Reports[0].Kind != mailing.BounceComplaint {
		t.Fatal(b, err)
	}
	auto := strings.Replace(string(sample(t, "postmark_bounce.json")), `"HardBounce"`, `"AutoResponder"`, 1)
	if b, err := bounce.ParsePostmark([]byte(auto)); err != nil || len(b.Reports) != 0 {
		t.Fatalf("an auto-responder is no bounce: %+v, %v", b, err)
	}
	for _, bad := range []string{`{`, `{}`, `{"RecordType":"Bounce","Type":"HardBounce"}`} {
		if _, err := bounce.ParsePostmark([]byte(bad)); !errors.Is(err, bounce.ErrMalformed) {
			t.Errorf("ParsePostmark(%q) = %v", bad, err)
		}
	}
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	const secret = "0123456789abcdef-secret"
	for _, c := range []struct {
		auth, user, pass string
		ok               bool
	}{
		{basic("pm", "pw"), "pm", "pw", true},
		{basic("pm", "px"), "pm", "pw", false},
		{basic("px", "pw"), "pm", "pw", false},
		{basic("anyone", secret), "", "", true},
		{basic("anyone", secret), "pm", "pw", false},
		{basic("anyone", "wrong"), "", "", false},
		{"Bearer " + secret, "", "", false},
		{"", "", "", false},
	} {
		if got := bounce.PostmarkAuthOK(c.auth, c.user, c.pass, secret); got != c.ok {
			t.Errorf("PostmarkAuthOK(%q, %q, %q) = %v", c.auth, c.user, c.pass, got)
		}
	}
}

const topic = "arn:aws:sns:us-east-1:123456789012:ses-bounces"

func TestSNSVerifiesSignaturePinsTheCertificateHostAndConfirms(t *testing.T) {
	fake := snstest.Start(t)
	v := &bounce.SNS{TopicARNs: []string{topic}, HTTP: fake.Client}
	ctx := context.Background()
	now := time.Now()

	res, err := v.Parse(ctx, fake.Notification(topic, "m-1", string(sample(t, "ses_bounce.json")), now).JSON(), now)
	if err != nil || len(res.Batch.Reports) != 1 || res.Batch.EventKey != "m-1" {
		t.Fatal(res, err)
	}
	if r := res.Batch.Reports[0]; r.Email != "jane@example.com" || r.Kind != mailing.BounceHard || r.MessageID != "custom-message-ID" || !strings.Contains(r.Reason, "5.1.1") {
		t.Fatalf("report = %+v", r)
	}
	// SignatureVersion 2 (SHA256) too; the certificate is fetched once.
	m := fake.Notification(topic, "m-2", string(sample(t, "ses_complaint.json")), now)
	m.SignatureVersion = "2"
	fake.Sign(&m)
	res, err = v.Parse(ctx, m.JSON(), now)
	if err != nil || len(res.Batch.Reports) != 1 || res.Batch.Reports[0].Kind != mailing.BounceComplaint || fake.CertGets() != 1 {
		t.Fatal(res, err, fake.CertGets())
	}

	res, err = v.Parse(ctx, fake.Confirmation(topic, "m-3", "tok123", now).JSON(), now)
	if err != nil || !res.Confirmed || len(fake.Confirmed()) != 1 || fake.Confirmed()[0] != "tok123" {
		t.Fatal(res, err, fake.Confirmed())
	}

	forgeries := map[string]func(*snstest.Message){
		"changed message": func(m *snstest.Message) { m.Message = strings.Replace(m.Message, "jane", "ann", 1) },
		"certificate elsewhere": func(m *snstest.Message) {
			m.SigningCertURL = "https://sns.example.com" + snstest.CertPath
			fake.Sign(m)
		},
		"certificate over http": func(m *snstest.Message) { m.SigningCertURL = "http://" + snstest.Host + snstest.CertPath; fake.Sign(m) },
		"look-alike host": func(m *snstest.Message) {
			m.SigningCertURL = "https://sns.us-east-1.amazonaws.com.example.com" + snstest.CertPath
			fake.Sign(m)
		},
		"another topic":     func(m *snstest.Message) { m.TopicArn = "arn:aws:sns:us-east-1:999999999999:mine"; fake.Sign(m) },
		"unknown version":   func(m *snstest.Message) { m.SignatureVersion = "3"; fake.Sign(m) },
		"garbage signature": func(m *snstest.Message) { m.Signature = "!!" },
	}
	for name, change := range forgeries {
		m := fake.Notification(topic, "f-"+name, string(sample(t, "ses_bounce.json")), now)
		change(&m)
		if _, err := v.Parse(ctx, m.JSON(), now); !errors.Is(err, bounce.ErrForged) {
			t.Errorf("%s: %v, want ErrForged", name, err)
		}
	}
	// A subscription URL off the SNS hosts is never fetched.
	c := fake.Confirmation(topic, "m-4", "evil", now)
	c.SubscribeURL = "https://attacker.example.com/?Action=ConfirmSubscription&Token=evil"
	fake.Sign(&c)
	if _, err := v.Parse(ctx, c.JSON(), now); !errors.Is(err, bounce.ErrForged) || len(fake.Confirmed()) != 1 {
		t.Errorf("foreign SubscribeURL: %v, confirmed %v", err, fake.Confirmed())
	}
	// An old message with a good signature is a replay.
	if _, err := v.Parse(ctx, fake.Notification(topic, "m-5", string(sample(t, "ses_bounce.json")), now.Add(-25*time.Hour)).JSON(), now); !errors.Is(err, bounce.ErrReplay) {
		t.Errorf("stale: %v", err)
	}
	for _, bad := range []string{`{`, `{}`, `{"Type":"Notification"}`} {
		if _, err := v.Parse(ctx, []byte(bad), now); !errors.Is(err, bounce.ErrMalformed) {
			t.Errorf("Parse(%q) = %v", bad, err)
		}
	}
	if _, err := v.Parse(ctx, fake.Notification(topic, "m-6", `{"notificationType":"Bounce"`, now).JSON(), now); !errors.Is(err, bounce.ErrMalformed) {
		t.Errorf("a notification that is not SES JSON: %v", err)
	}
	if res, err := v.Parse(ctx, fake.Notification(topic, "m-7", `{"notificationType":"Delivery","mail":{}}`, now).JSON(), now); err != nil || len(res.Batch.Reports) != 0 {
		t.Errorf("a delivery notification: %+v, %v", res, err)
	}
}
