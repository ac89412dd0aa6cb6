package bounce

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"mailer/app/mailing"
)

// snsHost is the only host an SNS signing certificate or subscription URL may come from:
// sns.<region>.amazonaws.com (AWS's own advice). A certificate from anywhere else would let
// anyone sign their own "notifications".
var snsHost = regexp.MustCompile(`^sns\.[a-z]{2}(-[a-z]+)+-\d\.amazonaws\.com$`)

// SNS verifies Amazon SNS messages and reads the SES notifications they carry.
type SNS struct {
	// TopicARNs are the topics accepted: a valid signature only proves that some AWS
	// account's topic sent the message.
	TopicARNs []string
	// HTTP fetches signing certificates and confirms subscriptions. Its TLS settings are
	// the trust: the certificate is taken only over HTTPS from a pinned SNS host. Tests
	// inject a client that trusts their own CA.
	HTTP *http.Client

	mu    sync.Mutex
	certs map[string]*rsa.PublicKey
}

// snsMessage is the envelope SNS posts.
type snsMessage struct {
	Type             string
	MessageId        string
	Token            string
	TopicArn         string
	Subject          *string
	Message          string
	SubscribeURL     string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
}

// SNSResult is what an SNS request turned out to be.
type SNSResult struct {
	// Confirmed is true for a SubscriptionConfirmation that was confirmed.
	Confirmed bool
	Batch     Batch
}

// Parse verifies an SNS message (signature, certificate host, topic, timestamp) and, for a
// notification, reads the SES bounce or complaint it carries; a SubscriptionConfirmation
// is confirmed by fetching its (pinned) SubscribeURL. The MessageId is the replay key.
func (s *SNS) Parse(ctx context.Context, body []byte, now time.Time) (SNSResult, error) {
	var m snsMessage
	if err := decode(body, &m); err != nil {
		return SNSResult{}, err
	}
	if m.MessageId == "" || m.TopicArn == "" || m.Timestamp == "" || m.Signature == "" {
		return SNSResult{}, malformed("not an SNS message")
	}
	if !slices.Contains(s.TopicARNs, m.TopicArn) {
		return SNSResult{}, forged("topic %q is not accepted", truncate(m.TopicArn, 100))
	}
	var fields []string
	switch m.Type {
	case "Notification":
		fields = []string{"Message", m.Message, "MessageId", m.MessageId}
		if m.Subject != nil {
			fields = append(fields, "Subject", *m.Subject)
		}
		fields = append(fields, "Timestamp", m.Timestamp, "TopicArn", m.TopicArn, "Type", m.Type)
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		fields = []string{"Message", m.Message, "MessageId", m.MessageId, "SubscribeURL", m.SubscribeURL,
			"Timestamp", m.Timestamp, "Token", m.Token, "TopicArn", m.TopicArn, "Type", m.Type}
	default:
		return SNSResult{}, malformed("unknown SNS type %q", truncate(m.Type, 40))
	}
	if err := s.verify(ctx, m, strings.Join(fields, "\n")+"\n"); err != nil {
		return SNSResult{}, err
	}
	ts, err := time.Parse(time.RFC3339, m.Timestamp)
	if err != nil {
		return SNSResult{}, malformed("bad Timestamp")
	}
	if err := fresh(ts, now); err != nil {
		return SNSResult{}, err
	}
	res := SNSResult{Batch: Batch{Provider: "ses", EventKey: m.MessageId}}
	switch m.Type {
	case "SubscriptionConfirmation":
		if err := s.confirm(ctx, m.SubscribeURL); err != nil {
			return SNSResult{}, err
		}
		res.Confirmed = true
		return res, nil
	case "UnsubscribeConfirmation":
		return res, nil
	}
	res.Batch.Reports, err = parseSES([]byte(m.Message))
	return res, err
}

// pinned checks that raw is an https URL on an SNS host.
func pinned(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Port() != "" || !snsHost.MatchString(u.Hostname()) {
		return nil, forged("URL %q is not on an SNS host", truncate(raw, 200))
	}
	return u, nil
}

func (s *SNS) verify(ctx context.Context, m snsMessage, signed string) error {
	u, err := pinned(m.SigningCertURL)
	if err != nil {
		return err
	}
	if !strings.HasSuffix(u.Path, ".pem") {
		return forged("certificate URL is not a .pem")
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return forged("signature not base64")
	}
	key, err := s.cert(ctx, u.String())
	if err != nil {
		return err
	}
	switch m.SignatureVersion {
	case "1":
		sum := sha1.Sum([]byte(signed))
		err = rsa.VerifyPKCS1v15(key, crypto.SHA1, sum[:], sig)
	case "2":
		sum := sha256.Sum256([]byte(signed))
		err = rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig)
	default:
		return forged("SignatureVersion %q", truncate(m.SignatureVersion, 10))
	}
	if err != nil {
		return forged("SNS signature")
	}
	return nil
}

// cert fetches (once) the signing certificate at a pinned URL.
func (s *SNS) cert(ctx context.Context, certURL string) (*rsa.PublicKey, error) {
	s.mu.Lock()
	key := s.certs[certURL]
	s.mu.Unlock()
	if key != nil {
		return key, nil
	}
	body, err := s.get(ctx, certURL)
	if err != nil {
		return nil, fmt.Errorf("fetch SNS certificate: %w", err)
	}
	blk, _ := pem.Decode(body)
	if blk == nil {
		return nil, forged("certificate is not PEM")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, forged("certificate does not parse")
	}
	key, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, forged("certificate key is not RSA")
	}
	s.mu.Lock()
	if s.certs == nil || len(s.certs) > 32 {
		s.certs = map[string]*rsa.PublicKey{}
	}
	s.certs[certURL] = key
	s.mu.Unlock()
	return key, nil
}

func (s *SNS) confirm(ctx context.Context, subscribeURL string) error {
	u, err := pinned(subscribeURL)
	if err != nil {
		return err
	}
	if _, err := s.get(ctx, u.String()); err != nil {
		return fmt.Errorf("confirm SNS subscription: %w", err)
	}
	return nil
}

func (s *SNS) get(ctx context.Context, u string) ([]byte, error) {
	client := s.HTTP
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	// Redirects could lead off the pinned host.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 64<<10))
}

// sesNotification is an SES bounce or complaint notification (or event, which names its
// type eventType).
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           *struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint *struct {
		ComplainedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
	} `json:"complaint"`
	Mail struct {
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
		CommonHeaders struct {
			MessageID string `json:"messageId"`
		} `json:"commonHeaders"`
	} `json:"mail"`
}

// parseSES reads an SES notification: Permanent bounces are hard, Transient and
// Undetermined soft, complaints complaints; deliveries and other events carry nothing.
func parseSES(msg []byte) ([]Report, error) {
	var n sesNotification
	if err := decode(msg, &n); err != nil {
		return nil, err
	}
	typ := n.NotificationType
	if typ == "" {
		typ = n.EventType
	}
	// SES rewrites the Message-ID it sends with; the original one is among the headers.
	msgID := n.Mail.CommonHeaders.MessageID
	for _, h := range n.Mail.Headers {
		if strings.EqualFold(h.Name, "Message-ID") {
			msgID = h.Value
		}
	}
	var out []Report
	switch typ {
	case "Bounce":
		if n.Bounce == nil {
			return nil, malformed("Bounce without bounce")
		}
		kind := mailing.BounceSoft
		if n.Bounce.BounceType == "Permanent" {
			kind = mailing.BounceHard
		}
		for _, r := range n.Bounce.BouncedRecipients {
			reason := strings.TrimSpace(n.Bounce.BounceType + "/" + n.Bounce.BounceSubType + " " + r.Status + " " + r.DiagnosticCode)
			out = append(out, Report{Email: r.EmailAddress, Kind: kind, Reason: reason, MessageID: msgID})
		}
	case "Complaint":
		if n.Complaint == nil {
			return nil, malformed("Complaint without complaint")
		}
		for _, r := range n.Complaint.ComplainedRecipients {
			out = append(out, Report{Email: r.EmailAddress, Kind: mailing.BounceComplaint,
				Reason: strings.TrimSpace("complaint " + n.Complaint.ComplaintFeedbackType), MessageID: msgID})
		}
	case "":
		return nil, malformed("not an SES notification")
	}
	for i := range out {
		if out[i].Email == "" {
			return nil, malformed("recipient without emailAddress")
		}
	}
	return out, nil
}
