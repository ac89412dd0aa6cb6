package config_test

import (
	"strings"
	"testing"
	"time"

	"mailer/app/config"
)

// SendGrid's documented verification key (its libraries' test vector).
const sendGridKey = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="

func TestLoadBounceSettings(t *testing.T) {
	cfg, err := config.Load(env(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Bounce
	if b.SoftLimit != 3 || b.SoftWindow != 30*24*time.Hour || b.WebhookSecret != "" || b.MailboxURL != "" ||
		b.ReturnPath != "" || b.RateWebhook != (config.Rate{N: 600, Per: time.Minute}) {
		t.Fatalf("defaults = %+v", b)
	}
	cfg, err = config.Load(env(map[string]string{
		"BOUNCE_SOFT_LIMIT": "5", "BOUNCE_SOFT_WINDOW": "72h", "BOUNCE_WEBHOOK_SECRET": "0123456789abcdef-secret",
		"BOUNCE_SES_TOPIC_ARNS":             "arn:aws:sns:us-east-1:123456789012:ses-bounces, arn:aws:sns:eu-west-1:123456789012:b",
		"SENDGRID_WEBHOOK_VERIFICATION_KEY": sendGridKey, "MAILGUN_WEBHOOK_SIGNING_KEY": "key-abc",
		"POSTMARK_WEBHOOK_USER": "pm", "POSTMARK_WEBHOOK_PASSWORD": "pw", "RATE_LIMIT_WEBHOOK": "10/1s",
		"MAIL_RETURN_PATH": "bounces@example.com", "BOUNCE_MAILBOX_URL": "imaps://u:p@mail.example.com/INBOX",
	}))
	if err != nil {
		t.Fatal(err)
	}
	b = cfg.Bounce
	if b.SoftLimit != 5 || b.SoftWindow != 72*time.Hour || len(b.SESTopicARNs) != 2 || b.SESTopicARNs[1] != "arn:aws:sns:eu-west-1:123456789012:b" ||
		b.PostmarkUser != "pm" || b.ReturnPath != "bounces@example.com" || b.MailboxURL == "" || b.RateWebhook.N != 10 {
		t.Fatalf("loaded = %+v", b)
	}
}

func TestLoadRejectsBadBounceSettings(t *testing.T) {
	for _, tt := range []struct{ vars map[string]string }{
		{map[string]string{"BOUNCE_SOFT_LIMIT": "-1"}},
		{map[string]string{"BOUNCE_SOFT_WINDOW": "soon"}},
		{map[string]string{"BOUNCE_WEBHOOK_SECRET": "short"}},
		{map[string]string{"BOUNCE_SES_TOPIC_ARNS": "my-topic"}},
		{map[string]string{"SENDGRID_WEBHOOK_VERIFICATION_KEY": "bm90IGEga2V5"}},
		{map[string]string{"POSTMARK_WEBHOOK_USER": "pm"}},
		{map[string]string{"RATE_LIMIT_WEBHOOK": "many"}},
		{map[string]string{"MAIL_RETURN_PATH": "Bounces <bounces@example.com>"}},
		{map[string]string{"MAIL_RETURN_PATH": "bounces+x@example.com"}},
		{map[string]string{"BOUNCE_MAILBOX_URL": "http://u:p@mail.example.com"}},
		{map[string]string{"BOUNCE_MAILBOX_URL": "imaps://mail.example.com/INBOX"}},
		{map[string]string{"BOUNCE_MAILBOX_URL": "pop3s://mail.example.com"}},
		{map[string]string{"BOUNCE_MAILBOX_URL": "pop3s://u:p@mail.example.com/Bounces"}},
	} {
		var name string
		for k := range tt.vars {
			name = k
		}
		_, err := config.Load(env(tt.vars))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Load(%v) = %v, want an error naming %s", tt.vars, err, name)
		}
	}
	for _, ok := range []string{"imaps://user:hunter2@mail.example.com/INBOX?x", "imap://u:p@127.0.0.1:1143",
		"pop3s://user:hunter2@mail.example.com", "pop3s://u:p@mail.example.com:995/", "pop3://u:p@127.0.0.1:1110"} {
		if _, err := config.Load(env(map[string]string{"BOUNCE_MAILBOX_URL": ok})); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	_, err := config.Load(env(map[string]string{"BOUNCE_MAILBOX_URL": "ftp://user:hunter2@mail.example.com/"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "imaps://") || !strings.Contains(err.Error(), "pop3s://") {
		t.Fatalf("error %v echoes the mailbox password or does not name both schemes", err)
	}
}
