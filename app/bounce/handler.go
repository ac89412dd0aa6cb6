package bounce

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"log/slog"

	"mailer/app/config"
	"mailer/app/mailing"
)

// Providers with a webhook of their own under /webhooks/bounces/{provider}; "generic" is
// Mailer's own format at /webhooks/bounces.
const (
	Generic  = "generic"
	SES      = "ses"
	Mailgun  = "mailgun"
	SendGrid = "sendgrid"
	Postmark = "postmark"
)

// Webhooks checks, reads and records provider webhooks.
type Webhooks struct {
	Service *Service
	Config  config.Bounce
	SNS     *SNS
	Clock   mailing.Clock
	Log     *slog.Logger

	sendgridKey *ecdsa.PublicKey
}

// NewWebhooks builds the webhook handling of cfg (already validated by config.Load).
func NewWebhooks(svc *Service, cfg config.Bounce, clock mailing.Clock, log *slog.Logger) *Webhooks {
	w := &Webhooks{Service: svc, Config: cfg, Clock: clock, Log: log, SNS: &SNS{TopicARNs: cfg.SESTopicARNs}}
	if cfg.SendGridVerificationKey != "" {
		w.sendgridKey, _ = config.ParseECDSAPublicKey(cfg.SendGridVerificationKey)
	}
	return w
}

// Enabled reports whether a provider's endpoint is configured; the others answer 404.
func (w *Webhooks) Enabled(provider string) bool {
	if w == nil {
		return false
	}
	c := w.Config
	switch provider {
	case Generic:
		return c.WebhookSecret != ""
	case SES:
		return len(c.SESTopicARNs) > 0
	case Mailgun:
		return c.MailgunSigningKey != ""
	case SendGrid:
		return w.sendgridKey != nil
	case Postmark:
		return c.PostmarkUser != "" || c.WebhookSecret != ""
	}
	return false
}

// Outcome is what a webhook request did.
type Outcome struct {
	Result
	// Confirmed is true when the request confirmed an SNS subscription.
	Confirmed bool
}

// Handle authenticates a request for provider, reads it and records its reports. A refused
// request (ErrMalformed, ErrForged, ErrReplay) stores nothing and is logged here, once.
func (w *Webhooks) Handle(ctx context.Context, provider string, req Request) (Outcome, error) {
	out, err := w.handle(ctx, provider, req)
	switch {
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrForged), errors.Is(err, ErrReplay):
		w.Log.Warn("bounce webhook refused", "provider", provider, "err", err)
	case err != nil:
		w.Log.Error("bounce webhook failed", "provider", provider, "err", err)
	default:
		w.Log.Info("bounce webhook", "provider", provider, "recorded", out.Recorded,
			"suppressed", out.Suppressed, "unmatched", out.Unmatched, "confirmed", out.Confirmed)
	}
	return out, err
}

func (w *Webhooks) handle(ctx context.Context, provider string, req Request) (Outcome, error) {
	now := w.Clock.Now()
	var batch Batch
	var err error
	var out Outcome
	switch provider {
	case Generic:
		if !BearerOK(req.Header("Authorization"), w.Config.WebhookSecret) {
			return out, forged("bearer token")
		}
		batch, err = ParseGeneric(req.Body)
	case Postmark:
		if !PostmarkAuthOK(req.Header("Authorization"), w.Config.PostmarkUser, w.Config.PostmarkPassword, w.Config.WebhookSecret) {
			return out, forged("basic auth")
		}
		batch, err = ParsePostmark(req.Body)
	case Mailgun:
		batch, err = ParseMailgun(req, w.Config.MailgunSigningKey, now)
	case SendGrid:
		batch, err = ParseSendGrid(req, w.sendgridKey, now)
	case SES:
		var r SNSResult
		r, err = w.SNS.Parse(ctx, req.Body, now)
		batch, out.Confirmed = r.Batch, r.Confirmed
	default:
		return out, malformed("unknown provider")
	}
	if err != nil {
		return out, err
	}
	out.Result, err = w.Service.Record(ctx, Options{Source: mailing.BounceFromWebhook, Provider: batch.Provider,
		EventKey: batch.EventKey}, batch.Reports)
	return out, err
}
