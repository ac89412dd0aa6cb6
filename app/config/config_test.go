package config_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailer/app/config"
	"mailer/app/testutil"
)

// env returns a getenv backed by vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// sqlitePragmas are the DSN parameters Mailer relies on for SQLite.
var sqlitePragmas = []string{
	"_pragma=busy_timeout(5000)",
	"_pragma=journal_mode(WAL)",
	"_pragma=synchronous(NORMAL)",
	"_pragma=foreign_keys(1)",
	"_txlock=immediate",
}

func assertSQLiteDSN(t *testing.T, dsn, wantPath string) {
	t.Helper()
	if !strings.HasPrefix(dsn, "file:") {
		t.Errorf("DatabaseURL = %q, want a file: DSN", dsn)
	}
	if got := config.SQLitePath(dsn); got != wantPath {
		t.Errorf("SQLitePath(%q) = %q, want %q", dsn, got, wantPath)
	}
	for _, p := range sqlitePragmas {
		if !strings.Contains(dsn, p) {
			t.Errorf("DatabaseURL = %q, missing %q", dsn, p)
		}
	}
}

func TestLoadWithEmptyEnvironmentUsesDocumentedDefaults(t *testing.T) {
	cfg, err := config.Load(env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Addr != ":8080" {
		t.Errorf("Addr = %q, want :8080", cfg.Addr)
	}
	if got := cfg.BaseURL.String(); got != "http://localhost:8080" {
		t.Errorf("BaseURL = %q, want http://localhost:8080", got)
	}
	if cfg.DataDir != "./data" {
		t.Errorf("DataDir = %q, want ./data", cfg.DataDir)
	}
	if cfg.Dialect != "sqlite" {
		t.Errorf("Dialect = %q, want sqlite", cfg.Dialect)
	}
	assertSQLiteDSN(t, cfg.DatabaseURL, filepath.Join("./data", "mailer.db"))
	if cfg.RedisURL != "" {
		t.Errorf("RedisURL = %q, want empty (embedded)", cfg.RedisURL)
	}
	if cfg.SMTPURL != "" {
		t.Errorf("SMTPURL = %q, want empty (development mail mode)", cfg.SMTPURL)
	}
	if cfg.MailFrom != "Mailer <mailer@localhost>" {
		t.Errorf("MailFrom = %q, want Mailer <mailer@localhost>", cfg.MailFrom)
	}
	if len(cfg.SecretKey) != 0 {
		t.Errorf("SecretKey = %q, want empty until LoadSecretKey", cfg.SecretKey)
	}
	if cfg.LogLevel != slog.LevelInfo {
		t.Errorf("LogLevel = %v, want INFO", cfg.LogLevel)
	}
	if cfg.LogFormat != "text" {
		t.Errorf("LogFormat = %q, want text", cfg.LogFormat)
	}
	if cfg.DefaultLanguage != "en" {
		t.Errorf("DefaultLanguage = %q, want en", cfg.DefaultLanguage)
	}
	if cfg.DefaultTimezone == nil || cfg.DefaultTimezone.String() != "UTC" {
		t.Errorf("DefaultTimezone = %v, want UTC", cfg.DefaultTimezone)
	}
}

func TestLoadPutsTheSQLiteFileInDataDir(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(env(map[string]string{"DATA_DIR": dir}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.DataDir != dir {
		t.Errorf("DataDir = %q, want %q", cfg.DataDir, dir)
	}
	assertSQLiteDSN(t, cfg.DatabaseURL, filepath.Join(dir, "mailer.db"))
}

func TestLoadReadsEveryVariable(t *testing.T) {
	cfg, err := config.Load(env(map[string]string{
		"ADDR":             "127.0.0.1:9000",
		"BASE_URL":         "https://mail.example.com/app/",
		"REDIS_URL":        "redis://redis:6379/2",
		"SMTP_URL":         "smtp://user:pw@smtp.example.com:587",
		"MAIL_FROM":        "Team <team@example.com>",
		"SECRET_KEY":       strings.Repeat("k", 32),
		"LOG_LEVEL":        "debug",
		"LOG_FORMAT":       "json",
		"DEFAULT_LANGUAGE": "ru",
		"DEFAULT_TIMEZONE": "Europe/Moscow",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct{ name, got, want string }{
		{"Addr", cfg.Addr, "127.0.0.1:9000"},
		{"BaseURL (trailing slash trimmed)", cfg.BaseURL.String(), "https://mail.example.com/app"},
		{"RedisURL", cfg.RedisURL, "redis://redis:6379/2"},
		{"SMTPURL", cfg.SMTPURL, "smtp://user:pw@smtp.example.com:587"},
		{"MailFrom", cfg.MailFrom, "Team <team@example.com>"},
		{"SecretKey", string(cfg.SecretKey), strings.Repeat("k", 32)},
		{"LogLevel", cfg.LogLevel.String(), "DEBUG"},
		{"LogFormat", cfg.LogFormat, "json"},
		{"DefaultLanguage", cfg.DefaultLanguage, "ru"},
		{"DefaultTimezone", cfg.DefaultTimezone.String(), "Europe/Moscow"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestLoadSelectsPostgresForPostgresURLs(t *testing.T) {
	for _, raw := range []string{
		"postgres://mailer:secret@db:5432/mailer?sslmode=disable",
		"postgresql://mailer@db/mailer",
	} {
		t.Run(raw, func(t *testing.T) {
			cfg, err := config.Load(env(map[string]string{"DATABASE_URL": raw}))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Dialect != "postgres" {
				t.Errorf("Dialect = %q, want postgres", cfg.Dialect)
			}
			if cfg.DatabaseURL != raw {
				t.Errorf("DatabaseURL = %q, want it unchanged: %q", cfg.DatabaseURL, raw)
			}
		})
	}
}

func TestLoadSelectsSQLiteForSQLitePrefixes(t *testing.T) {
	tests := []struct {
		raw, wantPath string
	}{
		{"sqlite:/var/lib/mailer/mailer.db", "/var/lib/mailer/mailer.db"},
		{"sqlite:relative/mailer.db", "relative/mailer.db"},
		{"sqlite:///var/lib/mailer/mailer.db", "/var/lib/mailer/mailer.db"},
		{"sqlite://relative.db", "relative.db"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			cfg, err := config.Load(env(map[string]string{"DATABASE_URL": tt.raw}))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Dialect != "sqlite" {
				t.Errorf("Dialect = %q, want sqlite", cfg.Dialect)
			}
			assertSQLiteDSN(t, cfg.DatabaseURL, tt.wantPath)
		})
	}
}

func TestLoadRejectsBadSettingsNamingTheVariable(t *testing.T) {
	tests := []struct {
		name     string
		vars     map[string]string
		wantVar  string
		wantAlso string // a further part of the message, e.g. the bad value
	}{
		{"BASE_URL without scheme", map[string]string{"BASE_URL": "localhost:8080"}, "BASE_URL", `"localhost:8080"`},
		{"BASE_URL with ftp scheme", map[string]string{"BASE_URL": "ftp://example.com"}, "BASE_URL", "http(s)"},
		{"BASE_URL without host", map[string]string{"BASE_URL": "https://"}, "BASE_URL", "absolute"},
		{"DATABASE_URL unknown scheme", map[string]string{"DATABASE_URL": "mysql://db/mailer"}, "DATABASE_URL", "postgres:// or sqlite:"},
		{"REDIS_URL wrong scheme", map[string]string{"REDIS_URL": "http://localhost:6379"}, "REDIS_URL", `"http://localhost:6379"`},
		{"REDIS_URL without scheme", map[string]string{"REDIS_URL": "localhost:6379"}, "REDIS_URL", "redis://"},
		{"SMTP_URL wrong scheme", map[string]string{"SMTP_URL": "http://smtp.example.com"}, "SMTP_URL", "smtp://"},
		{"SMTP_URL without host", map[string]string{"SMTP_URL": "smtp://"}, "SMTP_URL", "smtps://"},
		{"MAIL_FROM not an address", map[string]string{"MAIL_FROM": "not an address"}, "MAIL_FROM", `"not an address"`},
		{"SECRET_KEY too short", map[string]string{"SECRET_KEY": "short-key"}, "SECRET_KEY", "32"},
		{"LOG_LEVEL unknown", map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL", `"verbose"`},
		{"LOG_FORMAT unknown", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT", `"xml"`},
		{"DEFAULT_LANGUAGE unsupported", map[string]string{"DEFAULT_LANGUAGE": "de"}, "DEFAULT_LANGUAGE", `"de"`},
		{"DEFAULT_TIMEZONE unknown", map[string]string{"DEFAULT_TIMEZONE": "Mars/Olympus_Mons"}, "DEFAULT_TIMEZONE", `"Mars/Olympus_Mons"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(env(tt.vars))
			if err == nil {
				t.Fatalf("Load(%v) succeeded, want an error", tt.vars)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantVar) {
				t.Errorf("error %q does not name %s", msg, tt.wantVar)
			}
			if !strings.Contains(msg, tt.wantAlso) {
				t.Errorf("error %q does not contain %q", msg, tt.wantAlso)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q spans several lines", msg)
			}
		})
	}
}

func TestLoadDoesNotEchoSecrets(t *testing.T) {
	tests := []struct {
		name, key, value, secret string
	}{
		{"DATABASE_URL password", "DATABASE_URL", "mysql://mailer:hunter2-secret@db:3306/mailer", "hunter2-secret"},
		{"DATABASE_URL password without user", "DATABASE_URL", "mssql://:hunter2-secret@db/mailer", "hunter2-secret"},
		{"SECRET_KEY", "SECRET_KEY", "too-short-but-secret", "too-short-but-secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{tt.key: tt.value}))
			if err == nil {
				t.Fatalf("Load with %s=%q succeeded, want an error", tt.key, tt.value)
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q does not name %s", err, tt.key)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q echoes the secret %q", err, tt.secret)
			}
		})
	}
}

func TestLoadSecretKeyGeneratesOnceIntoDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not-yet-created")
	vars := map[string]string{"DATA_DIR": dir}

	first, err := config.Load(env(vars))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	generated, err := first.LoadSecretKey()
	if err != nil {
		t.Fatalf("LoadSecretKey: %v", err)
	}
	if !generated {
		t.Error("LoadSecretKey without SECRET_KEY reported generated=false")
	}
	if len(first.SecretKey) < 32 {
		t.Errorf("generated key has %d characters, want at least 32", len(first.SecretKey))
	}

	path := filepath.Join(dir, "secret_key")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %o, want 600", mode)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != string(first.SecretKey) {
		t.Errorf("key file holds %q, config holds %q", got, first.SecretKey)
	}

	second, err := config.Load(env(vars))
	if err != nil {
		t.Fatalf("second Load: %v", err)
	}
	generated, err = second.LoadSecretKey()
	if err != nil {
		t.Fatalf("second LoadSecretKey: %v", err)
	}
	if !generated {
		t.Error("key read from DATA_DIR reported generated=false; it did not come from SECRET_KEY")
	}
	if string(second.SecretKey) != string(first.SecretKey) {
		t.Errorf("second process got key %q, first got %q: keys must survive restarts", second.SecretKey, first.SecretKey)
	}
}

func TestLoadSecretKeyPrefersSecretKeyAndWritesNoFile(t *testing.T) {
	dir := t.TempDir()
	key := "0123456789abcdef0123456789abcdef-from-env"
	cfg, err := config.Load(env(map[string]string{"DATA_DIR": dir, "SECRET_KEY": key}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	generated, err := cfg.LoadSecretKey()
	if err != nil {
		t.Fatalf("LoadSecretKey: %v", err)
	}
	if generated {
		t.Error("LoadSecretKey with SECRET_KEY set reported generated=true")
	}
	if string(cfg.SecretKey) != key {
		t.Errorf("SecretKey = %q, want %q", cfg.SecretKey, key)
	}
	if _, err := os.Stat(filepath.Join(dir, "secret_key")); !os.IsNotExist(err) {
		t.Errorf("secret_key file exists in DATA_DIR (stat err %v), want none written", err)
	}
}

func TestSecureOnlyForHTTPSBaseURL(t *testing.T) {
	tests := []struct {
		baseURL string
		want    bool
	}{
		{"http://localhost:8080", false},
		{"http://mail.example.com", false},
		{"https://mail.example.com", true},
		{"https://mail.example.com:8443/app", true},
	}
	for _, tt := range tests {
		t.Run(tt.baseURL, func(t *testing.T) {
			cfg := testutil.Config(t, map[string]string{"BASE_URL": tt.baseURL})
			if got := cfg.Secure(); got != tt.want {
				t.Errorf("Secure() with BASE_URL=%s = %v, want %v", tt.baseURL, got, tt.want)
			}
		})
	}
}

func TestErrorsNeverEchoCredentialsOfUnparseableURLs(t *testing.T) {
	for name, value := range map[string]string{
		"DATABASE_URL": "mysql://u:hunter2@db:bad/x",
		"REDIS_URL":    "http://:hunter2@redis:6379",
	} {
		_, err := config.Load(func(k string) string {
			if k == name {
				return value
			}
			return ""
		})
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error %v must exist and hide the password", name, err)
		}
	}
}

// TestErrorsShowRedactedUsersAsStars: the user part of a refused URL prints as ***, not
// the percent-escaped %2A%2A%2A, so the operator sees the rest of the URL as typed.
func TestErrorsShowRedactedUsersAsStars(t *testing.T) {
	for name, tc := range map[string]struct{ value, want string }{
		"DATABASE_URL": {"mysql://bob:hunter2@db.example:3306/mailer", `"mysql://***@db.example:3306/mailer"`},
		"REDIS_URL":    {"http://bob:hunter2@redis.example:6379", `"http://***@redis.example:6379"`},
	} {
		_, err := config.Load(func(k string) string {
			if k == name {
				return tc.value
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error %v, want it to show %s", name, err, tc.want)
		}
	}
}
