// Package config turns the process environment into a validated Config.
// Every variable is documented in the README's configuration table; keep the two in step.
package config

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is everything the binaries read from the environment.
type Config struct {
	Addr string
	// ProxyHeader names the header a trusted reverse proxy puts the client's IP in
	// (e.g. X-Forwarded-For); empty means the connection's address is the client's.
	ProxyHeader string
	BaseURL     *url.URL
	DataDir     string

	// DatabaseURL is the resolved DSN; Dialect is "sqlite" or "postgres".
	DatabaseURL string
	Dialect     string

	// RedisURL empty means: run an embedded Redis-compatible server in-process.
	RedisURL string

	// SMTPURL empty means development mail mode: mails are printed to the log.
	SMTPURL  string
	MailFrom string

	// SecretKey signs cookies and tokens. Empty until LoadSecretKey runs.
	SecretKey []byte

	LogLevel  slog.Level
	LogFormat string

	DefaultLanguage string
	DefaultTimezone *time.Location

	// Sending. Defaults are fast, not throttled.
	SMTPMaxConns    int           // SMTP connections per process
	SMTPTimeout     time.Duration // one message's SMTP transaction
	SendConcurrency int           // send tasks a worker runs at once
	SendBatch       int           // deliveries claimed per step
	SendRate        int           // messages per second across all workers; 0 = unlimited
	SendMaxTries    int
	SendRetryBase   time.Duration
	ClaimTTL        time.Duration // how long a claim holds before recovery may take it back
	RecoverInterval time.Duration
	// SendOutageMax is how long a run waits for an unreachable mail server before its
	// waiting deliveries fail (an MTA's maximal queue lifetime).
	SendOutageMax time.Duration

	// BounceSoftLimit soft bounces of an address within BounceSoftWindow suppress it; 0
	// records soft bounces without ever suppressing for them.
	BounceSoftLimit  int
	BounceSoftWindow time.Duration

	// Rate limits on sign-in, sign-up and password reset, each applied per IP and per account.
	RateLogin    Rate
	RateRegister Rate
	RateReset    Rate
	// RateTestSend limits a user's test sends of a message to themself.
	RateTestSend Rate
	// RateAPI limits requests per API token.
	RateAPI Rate
	// RateSubscribe limits the public subscribe forms, per IP and per address typed.
	RateSubscribe Rate

	// OAuth / OpenID Connect providers; each is offered only when configured.
	GitHubKey, GitHubSecret string
	GoogleKey, GoogleSecret string
	OIDCDiscoveryURL        string
	OIDCClientID            string
	OIDCClientSecret        string

	// MetricsToken, when set, lets a scraper read /metrics with Authorization: Bearer <token>.
	MetricsToken string

	Bounce Bounce
}

// Bounce is how Mailer learns of bounces and complaints after the SMTP exchange: provider
// webhooks, a bounce mailbox and VERP envelope senders. Every part is off when unset.
type Bounce struct {
	// SoftLimit soft bounces within SoftWindow suppress an address.
	SoftLimit  int
	SoftWindow time.Duration

	// WebhookSecret turns on POST /webhooks/bounces (Authorization: Bearer <secret>).
	WebhookSecret string
	// SESTopicARNs are the SNS topics whose notifications /webhooks/bounces/ses accepts:
	// a valid SNS signature only proves the message came from some AWS account's topic.
	SESTopicARNs []string
	// MailgunSigningKey verifies Mailgun's HMAC signatures.
	MailgunSigningKey string
	// SendGridVerificationKey is SendGrid's ECDSA public key (base64 DER), as its console shows it.
	SendGridVerificationKey string
	// PostmarkUser and PostmarkPassword are the basic-auth credentials Postmark's webhook
	// URL carries; unset, the password must be WebhookSecret (any user name).
	PostmarkUser, PostmarkPassword string
	// RateWebhook limits webhook requests per client IP.
	RateWebhook Rate

	// ReturnPath (MAIL_RETURN_PATH) makes every mail's envelope sender a VERP address of it.
	ReturnPath string
	// MailboxURL is the IMAP or POP3 mailbox bounce reports arrive in; polled every minute.
	MailboxURL string
}

// Rate is N attempts per window; N = 0 disables the limit.
type Rate struct {
	N   int
	Per time.Duration
}

func (r Rate) String() string { return fmt.Sprintf("%d/%s", r.N, r.Per) }

func parseRate(name, v string) (Rate, error) {
	n, per, ok := strings.Cut(v, "/")
	r := Rate{}
	var err error
	if ok {
		r.N, err = strconv.Atoi(n)
		if err == nil {
			r.Per, err = time.ParseDuration(per)
		}
	}
	if !ok || err != nil || r.N < 0 || r.Per <= 0 {
		return Rate{}, fmt.Errorf("%s must look like 10/1m (attempts per duration), got %q", name, v)
	}
	return r, nil
}

// Languages the UI is translated into; the first is the fallback of last resort.
var Languages = []string{"en", "ru"}

// Load reads and validates the configuration. It has no side effects, so a bad
// setting is reported before anything is opened or created.
func Load(getenv func(string) string) (Config, error) {
	get := func(key, def string) string {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return v
		}
		return def
	}
	cfg := Config{
		Addr:        get("ADDR", ":8080"),
		ProxyHeader: get("PROXY_HEADER", ""),
		DataDir:     get("DATA_DIR", "./data"),
		RedisURL:    get("REDIS_URL", ""),
		SMTPURL:     get("SMTP_URL", ""),
	}

	base, err := url.Parse(get("BASE_URL", "http://localhost:8080"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return Config{}, fmt.Errorf("BASE_URL must be an absolute http(s) URL, got %q", getenv("BASE_URL"))
	}
	base.Path = strings.TrimRight(base.Path, "/")
	cfg.BaseURL = base

	cfg.DatabaseURL, cfg.Dialect, err = databaseURL(get("DATABASE_URL", ""), cfg.DataDir)
	if err != nil {
		return Config{}, err
	}

	if cfg.RedisURL != "" {
		u, err := url.Parse(cfg.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return Config{}, fmt.Errorf("REDIS_URL must look like redis://host:6379/0, got %q", redact(cfg.RedisURL))
		}
	}
	if cfg.SMTPURL != "" {
		u, err := url.Parse(cfg.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			return Config{}, errors.New("SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465")
		}
	}

	from := get("MAIL_FROM", "Mailer <mailer@"+base.Hostname()+">")
	if _, err := mail.ParseAddress(from); err != nil {
		return Config{}, fmt.Errorf("MAIL_FROM is not an email address: %q", from)
	}
	cfg.MailFrom = from

	if s := getenv("SECRET_KEY"); s != "" {
		if len(s) < 32 {
			return Config{}, errors.New("SECRET_KEY must be at least 32 characters")
		}
		cfg.SecretKey = []byte(s)
	}

	if err := cfg.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL", "info"))); err != nil {
		return Config{}, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", getenv("LOG_LEVEL"))
	}
	cfg.LogFormat = get("LOG_FORMAT", "text")
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return Config{}, fmt.Errorf("LOG_FORMAT must be text or json, got %q", cfg.LogFormat)
	}

	cfg.DefaultLanguage = get("DEFAULT_LANGUAGE", "en")
	if !Supported(cfg.DefaultLanguage) {
		return Config{}, fmt.Errorf("DEFAULT_LANGUAGE must be one of %s, got %q", strings.Join(Languages, ", "), cfg.DefaultLanguage)
	}
	tz := get("DEFAULT_TIMEZONE", "UTC")
	cfg.DefaultTimezone, err = time.LoadLocation(tz)
	if err != nil {
		return Config{}, fmt.Errorf("DEFAULT_TIMEZONE is not a known time zone: %q", tz)
	}
	for _, v := range []struct {
		name string
		def  int
		min  int
		dst  *int
	}{
		{"SMTP_MAX_CONNS", 8, 1, &cfg.SMTPMaxConns},
		{"SEND_CONCURRENCY", 4, 1, &cfg.SendConcurrency},
		{"SEND_BATCH", 200, 1, &cfg.SendBatch},
		{"SEND_RATE", 0, 0, &cfg.SendRate},
		{"SEND_MAX_TRIES", 4, 1, &cfg.SendMaxTries},
		{"BOUNCE_SOFT_LIMIT", 3, 0, &cfg.BounceSoftLimit},
	} {
		n, err := strconv.Atoi(get(v.name, strconv.Itoa(v.def)))
		if err != nil || n < v.min {
			return Config{}, fmt.Errorf("%s must be a whole number of at least %d, got %q", v.name, v.min, getenv(v.name))
		}
		*v.dst = n
	}
	for _, v := range []struct {
		name string
		def  string
		dst  *time.Duration
	}{
		{"SMTP_TIMEOUT", "30s", &cfg.SMTPTimeout},
		{"SEND_RETRY_BASE", "30s", &cfg.SendRetryBase},
		{"CLAIM_TTL", "2m", &cfg.ClaimTTL},
		{"RECOVER_INTERVAL", "30s", &cfg.RecoverInterval},
		{"BOUNCE_SOFT_WINDOW", "720h", &cfg.BounceSoftWindow},
		{"SEND_OUTAGE_MAX", "24h", &cfg.SendOutageMax},
	} {
		d, err := time.ParseDuration(get(v.name, v.def))
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("%s must be a positive duration such as 30s, got %q", v.name, getenv(v.name))
		}
		*v.dst = d
	}

	for _, r := range []struct {
		name, def string
		dst       *Rate
	}{
		{"RATE_LIMIT_LOGIN", "10/1m", &cfg.RateLogin},
		{"RATE_LIMIT_REGISTER", "5/10m", &cfg.RateRegister},
		{"RATE_LIMIT_RESET", "5/10m", &cfg.RateReset},
		{"RATE_LIMIT_TEST_SEND", "10/1h", &cfg.RateTestSend},
		{"RATE_LIMIT_API", "600/1m", &cfg.RateAPI},
		{"RATE_LIMIT_SUBSCRIBE", "5/10m", &cfg.RateSubscribe},
	} {
		if *r.dst, err = parseRate(r.name, get(r.name, r.def)); err != nil {
			return Config{}, err
		}
	}

	cfg.GitHubKey, cfg.GitHubSecret = get("OAUTH_GITHUB_KEY", ""), get("OAUTH_GITHUB_SECRET", "")
	cfg.GoogleKey, cfg.GoogleSecret = get("OAUTH_GOOGLE_KEY", ""), get("OAUTH_GOOGLE_SECRET", "")
	cfg.OIDCDiscoveryURL = get("OIDC_DISCOVERY_URL", "")
	cfg.OIDCClientID, cfg.OIDCClientSecret = get("OIDC_CLIENT_ID", ""), get("OIDC_CLIENT_SECRET", "")
	cfg.MetricsToken = get("METRICS_TOKEN", "")
	if cfg.Bounce, err = loadBounce(get); err != nil {
		return Config{}, err
	}
	for _, pair := range [][2]string{{"OAUTH_GITHUB_KEY", "OAUTH_GITHUB_SECRET"}, {"OAUTH_GOOGLE_KEY", "OAUTH_GOOGLE_SECRET"}, {"OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"}} {
		if (getenv(pair[0]) == "") != (getenv(pair[1]) == "") {
			return Config{}, fmt.Errorf("%s and %s must be set together", pair[0], pair[1])
		}
	}
	if (cfg.OIDCDiscoveryURL == "") != (cfg.OIDCClientID == "") {
		return Config{}, errors.New("OIDC_DISCOVERY_URL and OIDC_CLIENT_ID/OIDC_CLIENT_SECRET must be set together")
	}
	return cfg, nil
}

// loadBounce reads the BOUNCE_* variables, MAIL_RETURN_PATH and the providers' keys.
func loadBounce(get func(key, def string) string) (Bounce, error) {
	b := Bounce{
		WebhookSecret:           get("BOUNCE_WEBHOOK_SECRET", ""),
		MailgunSigningKey:       get("MAILGUN_WEBHOOK_SIGNING_KEY", ""),
		SendGridVerificationKey: get("SENDGRID_WEBHOOK_VERIFICATION_KEY", ""),
		PostmarkUser:            get("POSTMARK_WEBHOOK_USER", ""),
		PostmarkPassword:        get("POSTMARK_WEBHOOK_PASSWORD", ""),
		ReturnPath:              get("MAIL_RETURN_PATH", ""),
		MailboxURL:              get("BOUNCE_MAILBOX_URL", ""),
	}
	n, err := strconv.Atoi(get("BOUNCE_SOFT_LIMIT", "3"))
	if err != nil || n < 0 {
		return Bounce{}, fmt.Errorf("BOUNCE_SOFT_LIMIT must be a whole number (0 turns it off), got %q", get("BOUNCE_SOFT_LIMIT", ""))
	}
	b.SoftLimit = n
	if b.SoftWindow, err = parseDays(get("BOUNCE_SOFT_WINDOW", "30d")); err != nil || b.SoftWindow <= 0 {
		return Bounce{}, fmt.Errorf("BOUNCE_SOFT_WINDOW must be a positive duration such as 30d or 72h, got %q", get("BOUNCE_SOFT_WINDOW", ""))
	}
	// A short secret could be guessed by anyone who can reach the endpoint.
	if b.WebhookSecret != "" && len(b.WebhookSecret) < 16 {
		return Bounce{}, errors.New("BOUNCE_WEBHOOK_SECRET must be at least 16 characters")
	}
	for _, arn := range strings.Split(get("BOUNCE_SES_TOPIC_ARNS", ""), ",") {
		if arn = strings.TrimSpace(arn); arn == "" {
			continue
		}
		if !strings.HasPrefix(arn, "arn:aws") || strings.Count(arn, ":") != 5 {
			return Bounce{}, fmt.Errorf("BOUNCE_SES_TOPIC_ARNS must list SNS topic ARNs (arn:aws:sns:region:account:topic), got %q", arn)
		}
		b.SESTopicARNs = append(b.SESTopicARNs, arn)
	}
	if b.SendGridVerificationKey != "" {
		if _, err := ParseECDSAPublicKey(b.SendGridVerificationKey); err != nil {
			return Bounce{}, fmt.Errorf("SENDGRID_WEBHOOK_VERIFICATION_KEY: %v", err)
		}
	}
	if (b.PostmarkUser == "") != (b.PostmarkPassword == "") {
		return Bounce{}, errors.New("POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD must be set together")
	}
	if b.RateWebhook, err = parseRate("RATE_LIMIT_WEBHOOK", get("RATE_LIMIT_WEBHOOK", "600/1m")); err != nil {
		return Bounce{}, err
	}
	if b.ReturnPath != "" {
		a, err := mail.ParseAddress(b.ReturnPath)
		if err != nil || a.Name != "" || strings.ContainsAny(a.Address, "<>+ ") || a.Address != b.ReturnPath {
			return Bounce{}, fmt.Errorf("MAIL_RETURN_PATH must be a bare address without + such as bounces@example.com, got %q", b.ReturnPath)
		}
	}
	if b.MailboxURL != "" {
		u, err := url.Parse(b.MailboxURL)
		if err != nil || u.Host == "" || u.User == nil || u.User.Username() == "" ||
			(u.Scheme != "imaps" && u.Scheme != "imap" && u.Scheme != "pop3s" && u.Scheme != "pop3") {
			return Bounce{}, fmt.Errorf("BOUNCE_MAILBOX_URL must look like imaps://user:password@host/INBOX or pop3s://user:password@host (imap:// and pop3:// without TLS), got %q", redact(b.MailboxURL))
		}
		// A POP3 account is one maildrop: a folder would be ignored, so it is refused.
		if strings.HasPrefix(u.Scheme, "pop3") && strings.Trim(u.Path, "/") != "" {
			return Bounce{}, fmt.Errorf("BOUNCE_MAILBOX_URL: POP3 has no folders, leave out %q", u.Path)
		}
	}
	return b, nil
}

// parseDays is time.ParseDuration that also takes whole days ("30d").
func parseDays(v string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(d)
		return time.Duration(n) * 24 * time.Hour, err
	}
	return time.ParseDuration(v)
}

// ParseECDSAPublicKey reads a public key as SendGrid shows it: base64 of its DER
// (SubjectPublicKeyInfo), or the same in a PEM block.
func ParseECDSAPublicKey(s string) (*ecdsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	var der []byte
	if blk, _ := pem.Decode([]byte(s)); blk != nil {
		der = blk.Bytes
	} else {
		var err error
		if der, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, errors.New("not base64 of a DER public key")
		}
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("not a DER public key")
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("not an ECDSA public key")
	}
	return ek, nil
}

// Supported reports whether the UI has a catalogue for lang.
func Supported(lang string) bool {
	for _, l := range Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// sqlitePragmas are part of the DSN because a PRAGMA run with Exec reaches one pooled connection only.
// _txlock=immediate: deferred transactions that read then write fail with SQLITE_BUSY under concurrency.
const sqlitePragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"

func databaseURL(raw, dataDir string) (dsn, dialect string, err error) {
	switch {
	case raw == "":
		return SQLiteDSN(filepath.Join(dataDir, "mailer.db")), "sqlite", nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return "", "", errors.New("DATABASE_URL is not a valid postgres:// URL")
		}
		return raw, "postgres", nil
	case strings.HasPrefix(raw, "sqlite://"):
		return SQLiteDSN(strings.TrimPrefix(raw, "sqlite://")), "sqlite", nil
	case strings.HasPrefix(raw, "sqlite:"):
		return SQLiteDSN(strings.TrimPrefix(raw, "sqlite:")), "sqlite", nil
	default:
		return "", "", fmt.Errorf("DATABASE_URL must start with postgres:// or sqlite:, got %q", redact(raw))
	}
}

// SQLiteDSN builds the DSN for a SQLite file with the pragmas Mailer relies on.
func SQLiteDSN(path string) string {
	return "file:" + path + "?" + sqlitePragmas
}

// SQLitePath returns the file behind a SQLite DSN built by SQLiteDSN.
func SQLitePath(dsn string) string {
	p := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

// redact hides credentials in a URL for error messages, also when the URL does not parse.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		if u.User == nil {
			return u.String()
		}
		// Not url.User("***"): String escapes it as %2A%2A%2A.
		u.User = nil
		s := u.String()
		if i := strings.Index(s, "://"); i >= 0 {
			return s[:i+3] + "***@" + s[i+3:]
		}
		return s
	}
	if i, j := strings.Index(raw, "://"), strings.LastIndexByte(raw, '@'); i >= 0 && j > i {
		return raw[:i+3] + "***" + raw[j:]
	}
	return "<unparseable URL>"
}

// PrepareDataDir creates DATA_DIR, where the default database and the generated secret key
// live, so that a first start needs no setup. A DATABASE_URL naming another folder gets no
// such help: a mistyped path must not become a new, empty database.
func (c *Config) PrepareDataDir() error {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create DATA_DIR: %w", err)
	}
	return nil
}

// LoadSecretKey fills SecretKey, generating one into DATA_DIR on first use.
// generated is true when the key did not come from SECRET_KEY, so the caller can warn:
// a key in a file on one machine does not work for several web processes.
func (c *Config) LoadSecretKey() (generated bool, err error) {
	if len(c.SecretKey) > 0 {
		return false, nil
	}
	path := filepath.Join(c.DataDir, "secret_key")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		c.SecretKey = []byte(strings.TrimSpace(string(b)))
		return true, nil
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return false, fmt.Errorf("create DATA_DIR: %w", err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return false, err
	}
	key := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	c.SecretKey = []byte(key)
	return true, nil
}

// Logger builds the process logger from LOG_LEVEL and LOG_FORMAT.
func (c Config) Logger(w interface{ Write([]byte) (int, error) }) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Secure reports whether cookies must carry the Secure flag.
func (c Config) Secure() bool { return c.BaseURL.Scheme == "https" }
