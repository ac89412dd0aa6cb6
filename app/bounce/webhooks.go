package bounce

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"mailer/app/mailing"
)

// Batch is what one webhook request says: its reports and the key that identifies it for
// replay protection ("" when the format gives none).
type Batch struct {
	Provider string
	EventKey string
	Reports  []Report
}

// Request is a webhook request as the web layer received it.
type Request struct {
	Body   []byte
	Header func(name string) string
}

// maxAge is how old a signed timestamp may be. Providers retry a failed delivery for
// hours with the same timestamp, so the window is a day; within it the stored report keys
// refuse a replay.
const maxAge = 24 * time.Hour

// maxSkew is how far in the future a timestamp may be (clocks differ).
const maxSkew = 5 * time.Minute

func fresh(ts, now time.Time) error {
	if ts.Before(now.Add(-maxAge)) || ts.After(now.Add(maxSkew)) {
		return ErrReplay
	}
	return nil
}

// decode reads JSON strictly enough: one value, nothing after it.
func decode(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(v); err != nil {
		return malformed("bad JSON: %v", err)
	}
	if d.More() {
		return malformed("bad JSON: data after the value")
	}
	return nil
}

// BearerOK compares an Authorization header with "Bearer <secret>" in constant time.
func BearerOK(header, secret string) bool {
	return secret != "" && subtle.ConstantTimeCompare([]byte(header), []byte("Bearer "+secret)) == 1
}

// genericReport is the body of POST /webhooks/bounces.
type genericReport struct {
	Email     string  `json:"email"`
	Type      string  `json:"type"`
	Reason    string  `json:"reason"`
	MessageID *string `json:"message_id"`
}

// ParseGeneric reads Mailer's own format: {"email", "type": "hard"|"soft"|"complaint",
// "reason", "message_id"?}.
func ParseGeneric(body []byte) (Batch, error) {
	var g genericReport
	if err := decode(body, &g); err != nil {
		return Batch{}, err
	}
	r := Report{Email: g.Email, Kind: g.Type, Reason: g.Reason}
	if g.MessageID != nil {
		r.MessageID = *g.MessageID
	}
	if strings.TrimSpace(r.Email) == "" {
		return Batch{}, malformed("no email")
	}
	if err := r.clean(); err != nil {
		return Batch{}, err
	}
	return Batch{Provider: "generic", Reports: []Report{r}}, nil
}

// --- Mailgun -------------------------------------------------------------------------

type mailgunBody struct {
	Signature struct {
		Timestamp string `json:"timestamp"`
		Token     string `json:"token"`
		Signature string `json:"signature"`
	} `json:"signature"`
	EventData *struct {
		Event          string `json:"event"`
		Severity       string `json:"severity"`
		Reason         string `json:"reason"`
		Recipient      string `json:"recipient"`
		DeliveryStatus struct {
			Code        int    `json:"code"`
			Message     string `json:"message"`
			Description string `json:"description"`
		} `json:"delivery-status"`
		Message struct {
			Headers struct {
				MessageID string `json:"message-id"`
			} `json:"headers"`
		} `json:"message"`
	} `json:"event-data"`
}

// ParseMailgun verifies and reads a Mailgun webhook: the signature is hex HMAC-SHA256 of
// timestamp+token under the webhook signing key, and the token is the replay key.
// "failed" events are bounces (severity permanent: hard, temporary: soft), "complained"
// ones complaints; other events are verified and ignored.
func ParseMailgun(req Request, signingKey string, now time.Time) (Batch, error) {
	var b mailgunBody
	if err := decode(req.Body, &b); err != nil {
		return Batch{}, err
	}
	s := b.Signature
	if s.Timestamp == "" || s.Token == "" || s.Signature == "" || b.EventData == nil {
		return Batch{}, malformed("no signature or event-data")
	}
	m := hmac.New(sha256.New, []byte(signingKey))
	m.Write([]byte(s.Timestamp + s.Token))
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(s.Signature))) {
		return Batch{}, forged("mailgun HMAC")
	}
	sec, err := strconv.ParseInt(s.Timestamp, 10, 64)
	if err != nil {
		return Batch{}, malformed("bad timestamp")
	}
	if err := fresh(time.Unix(sec, 0), now); err != nil {
		return Batch{}, err
	}
	batch := Batch{Provider: "mailgun", EventKey: s.Token}
	e := b.EventData
	r := Report{Email: e.Recipient, MessageID: e.Message.Headers.MessageID}
	r.Reason = strings.TrimSpace(strconv.Itoa(e.DeliveryStatus.Code) + " " + e.DeliveryStatus.Message + " " + e.DeliveryStatus.Description)
	switch {
	case e.Event == "failed" && e.Severity == "permanent":
		r.Kind = mailing.BounceHard
	case e.Event == "failed":
		r.Kind = mailing.BounceSoft
	case e.Event == "complained":
		r.Kind, r.Reason = mailing.BounceComplaint, "complaint"
	default:
		return batch, nil
	}
	if r.Email == "" {
		return Batch{}, malformed("no recipient")
	}
	batch.Reports = []Report{r}
	return batch, nil
}

// --- SendGrid ------------------------------------------------------------------------

type sendgridEvent struct {
	Email  string `json:"email"`
	Event  string `json:"event"`
	Type   string `json:"type"`
	Reason string `json:"reason"`
	Status string `json:"status"`
	SMTPID string `json:"smtp-id"`
}

// ParseSendGrid verifies and reads SendGrid's signed event webhook: an ECDSA (P-256,
// SHA-256) signature of the timestamp header followed by the raw body. "bounce" events are
// hard (type "blocked": soft), "spamreport" ones complaints; others are ignored. The
// signature is the replay key: a new request carries a new one.
func ParseSendGrid(req Request, key *ecdsa.PublicKey, now time.Time) (Batch, error) {
	sig := req.Header("X-Twilio-Email-Event-Webhook-Signature")
	ts := req.Header("X-Twilio-Email-Event-Webhook-Timestamp")
	if sig == "" || ts == "" {
		return Batch{}, forged("sendgrid signature headers missing")
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return Batch{}, forged("sendgrid signature not base64")
	}
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write(req.Body)
	if !ecdsa.VerifyASN1(key, h.Sum(nil), der) {
		return Batch{}, forged("sendgrid ECDSA")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Batch{}, malformed("bad timestamp")
	}
	if err := fresh(time.Unix(sec, 0), now); err != nil {
		return Batch{}, err
	}
	// SendGrid posts an array of events; its documented test payload is a single one.
	var events []sendgridEvent
	if body := bytes.TrimSpace(req.Body); len(body) > 0 && body[0] == '{' {
		events = make([]sendgridEvent, 1)
		if err := decode(body, &events[0]); err != nil {
			return Batch{}, err
		}
	} else if err := decode(body, &events); err != nil {
		return Batch{}, err
	}
	sum := sha256.Sum256(der)
	batch := Batch{Provider: "sendgrid", EventKey: hex.EncodeToString(sum[:16])}
	for _, e := range events {
		r := Report{Email: e.Email, MessageID: e.SMTPID, Reason: strings.TrimSpace(e.Status + " " + e.Reason)}
		switch {
		case e.Event == "bounce" && e.Type == "blocked":
			r.Kind = mailing.BounceSoft
		case e.Event == "bounce":
			r.Kind = mailing.BounceHard
		case e.Event == "spamreport":
			r.Kind, r.Reason = mailing.BounceComplaint, "spam report"
		default:
			continue
		}
		if r.Email == "" {
			return Batch{}, malformed("no email")
		}
		batch.Reports = append(batch.Reports, r)
	}
	return batch, nil
}

// --- Postmark ------------------------------------------------------------------------

type postmarkBody struct {
	RecordType  string `json:"RecordType"`
	ID          *int64 `json:"ID"`
	Type        string `json:"Type"`
	Email       string `json:"Email"`
	Description string `json:"Description"`
	Details     string `json:"Details"`
}

// postmarkKinds maps Postmark's bounce types to ours; types missing here (auto-responders,
// subscription changes, challenge mails, …) say nothing about the address.
var postmarkKinds = map[string]string{
	"HardBounce": mailing.BounceHard, "BadEmailAddress": mailing.BounceHard,
	"SoftBounce": mailing.BounceSoft, "Transient": mailing.BounceSoft, "DnsError": mailing.BounceSoft,
	"SpamComplaint": mailing.BounceComplaint, "SpamNotification": mailing.BounceComplaint,
}

// PostmarkAuthOK checks the basic-auth credentials Postmark's webhook URL carries: the
// configured user and password, or — with none configured — any user with the bounce
// webhook secret as password.
func PostmarkAuthOK(authorization, user, password, secret string) bool {
	raw, ok := strings.CutPrefix(authorization, "Basic ")
	if !ok {
		return false
	}
	dec, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return false
	}
	u, p, _ := strings.Cut(string(dec), ":")
	if user == "" {
		return secret != "" && subtle.ConstantTimeCompare([]byte(p), []byte(secret)) == 1
	}
	okUser := subtle.ConstantTimeCompare([]byte(u), []byte(user))
	okPass := subtle.ConstantTimeCompare([]byte(p), []byte(password))
	return okUser&okPass == 1
}

// ParsePostmark reads a Postmark bounce or spam-complaint webhook (authenticated by the
// caller with PostmarkAuthOK). Postmark signs nothing; its bounce ID is the replay key.
func ParsePostmark(body []byte) (Batch, error) {
	var p postmarkBody
	if err := decode(body, &p); err != nil {
		return Batch{}, err
	}
	batch := Batch{Provider: "postmark"}
	if p.ID != nil {
		batch.EventKey = strconv.FormatInt(*p.ID, 10)
	}
	if p.RecordType != "" && p.RecordType != "Bounce" && p.RecordType != "SpamComplaint" {
		return batch, nil // deliveries, opens, clicks: not ours to record
	}
	kind, ok := postmarkKinds[p.Type]
	if p.RecordType == "SpamComplaint" {
		kind, ok = mailing.BounceComplaint, true
	}
	if p.Type == "" && p.RecordType == "" {
		return Batch{}, malformed("neither RecordType nor Type")
	}
	if !ok {
		return batch, nil
	}
	if p.Email == "" {
		return Batch{}, malformed("no Email")
	}
	batch.Reports = []Report{{Email: p.Email, Kind: kind, Reason: strings.TrimSpace(p.Type + ": " + p.Details)}}
	return batch, nil
}
