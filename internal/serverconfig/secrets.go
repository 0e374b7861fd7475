package serverconfig

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"unicode/utf8"
)

// weakSecrets are refused as the database password: the predecessor's WEAK_PASSWORDS blocklist
// (seed-project.md §5.5: the usual defaults and its .env.example placeholders) and the defaults of
// common PostgreSQL images and tutorials.
var weakSecrets = []string{
	"", "password", "password123", "admin", "administrator", "root", "123456", "12345678",
	"qwerty", "changeme", "change_me", "changethis", "change-this-password", "secret", "default",
	"test", "testing", "dev", "dev_only_password", "development", "scheduler", "residency",
	"residency_scheduler", "postgres", "postgresql", "letmein", "welcome", "example",
	"your_password_here", "your-password", "your_secret_key_here", "replace_me", "placeholder",
	"local_dev_password", "scheduler_password", "db_password", "rsched",
}

// MinDatabasePasswordLength follows the predecessor's start-up check (≥ 12 characters).
const MinDatabasePasswordLength = 12

// DatabaseURL reads the PostgreSQL URL from cfg.Secrets.DatabaseURLFile and refuses one whose
// TLS does not meet database.tls (DatabaseTLS.CheckURL: no sslmode, one weaker than the mode, TLS
// files named in the URL); one without a password unless database.tls names a client certificate;
// and one with a weak or default password, or a password shorter than 12 characters. It checks
// before anything dials the database. No error message contains the URL or any part of the
// password.
func (c *Config) DatabaseURL() (string, error) {
	b, err := os.ReadFile(c.Secrets.DatabaseURLFile)
	if err != nil {
		return "", fmt.Errorf("database URL: %w", err)
	}
	raw := strings.TrimSpace(string(b))
	where := "database URL in " + c.Secrets.DatabaseURLFile
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "", fmt.Errorf("%s: not a postgres:// URL", where)
	}
	if _, err := c.Database.TLS.CheckURL(u); err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}
	if err := checkSecret(u, c.Database.TLS.ClientCertificate()); err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}
	return raw, nil
}

// checkSecret checks the URL's password; with a client certificate (certLogin) the URL may have
// none, but a password it does carry is checked all the same.
func checkSecret(u *url.URL, certLogin bool) error {
	pw, ok := u.User.Password()
	if (!ok || pw == "") && certLogin {
		return nil
	}
	if !ok || pw == "" {
		return errors.New("has no password (and database.tls names no client certificate)")
	}
	lower := strings.ToLower(pw)
	for _, weak := range weakSecrets {
		if lower == weak {
			return errors.New("its password is a well-known default; generate a random one")
		}
	}
	if utf8.RuneCountInString(pw) < MinDatabasePasswordLength {
		return fmt.Errorf("its password is shorter than %d characters", MinDatabasePasswordLength)
	}
	if u.User.Username() != "" && strings.EqualFold(pw, u.User.Username()) {
		return errors.New("its password equals the user name")
	}
	return nil
}
