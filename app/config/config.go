// Package config turns the process environment into a validated Config.
// Every variable is documented in the README's configuration table; keep the two in step.
package config

import (
	"crypto/rand"
	"encoding/hex"
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

	// Rate limits on sign-in, sign-up and password reset, each applied per IP and per account.
	RateLogin    Rate
	RateRegister Rate
	RateReset    Rate

	// OAuth / OpenID Connect providers; each is offered only when configured.
	GitHubKey, GitHubSecret string
	GoogleKey, GoogleSecret string
	OIDCDiscoveryURL        string
	OIDCClientID            string
	OIDCClientSecret        string

	// MetricsToken, when set, lets a scraper read /metrics with Authorization: Bearer <token>.
	MetricsToken string
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
		if u.User != nil {
			u.User = url.User("***")
		}
		return u.String()
	}
	if i, j := strings.Index(raw, "://"), strings.LastIndexByte(raw, '@'); i >= 0 && j > i {
		return raw[:i+3] + "***" + raw[j:]
	}
	return "<unparseable URL>"
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
