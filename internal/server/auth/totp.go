package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6238's default, what every authenticator app implements; HMAC-SHA1 is not broken
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP parameters: the ones authenticator apps support everywhere (RFC 6238 defaults).
const (
	totpDigits = 6
	totpPeriod = 30 * time.Second
	// totpSkew is how many periods before and after now a code is accepted, for clock drift and
	// the time a person takes to type it.
	totpSkew = 1
	// TOTPSecretSize is 160 bits, RFC 4226's recommendation.
	TOTPSecretSize = 20
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a random TOTP secret. Store it encrypted (internal/server/fieldcrypt).
func NewTOTPSecret() ([]byte, error) {
	s := make([]byte, TOTPSecretSize)
	_, err := rand.Read(s)
	return s, err
}

// TOTPURI is the otpauth:// URI an authenticator app scans as a QR code.
func TOTPURI(secret []byte, issuer, account string) string {
	label := url.PathEscape(issuer + ":" + account)
	q := url.Values{}
	q.Set("secret", b32.EncodeToString(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(totpDigits))
	q.Set("period", fmt.Sprint(int(totpPeriod/time.Second)))
	return "otpauth://totp/" + label + "?" + q.Encode()
}

// hotp is RFC 4226's HOTP value of counter, with digits digits.
func hotp(secret []byte, counter uint64, digits int) string {
	m := hmac.New(sha1.New, secret)
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	m.Write(c[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// totpStep is the time step of t.
func totpStep(t time.Time) int64 { return t.Unix() / int64(totpPeriod/time.Second) }

// ErrTOTPInvalid is returned for a wrong, expired or replayed code, without saying which.
var ErrTOTPInvalid = errors.New("invalid authentication code")

// VerifyTOTP checks a 6-digit code at now. lastStep is the step of the last code this user had
// accepted (0 if none): a code for that step or an earlier one is refused, so a code cannot be
// used twice, even within its validity window. On success it returns the step to store as the
// new lastStep.
func VerifyTOTP(secret []byte, code string, now time.Time, lastStep int64) (int64, error) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != totpDigits {
		return 0, ErrTOTPInvalid
	}
	current := totpStep(now)
	matched := int64(-1)
	// Compare against every step in the window, in constant time, without stopping early.
	for step := current - totpSkew; step <= current+totpSkew; step++ {
		if step <= 0 {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(hotp(secret, uint64(step), totpDigits)), []byte(code)) == 1 && matched < 0 {
			matched = step
		}
	}
	if matched < 0 || matched <= lastStep {
		return 0, ErrTOTPInvalid
	}
	return matched, nil
}

// recoveryAlphabet avoids characters people confuse (0/O, 1/I/L).
const recoveryAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// NewRecoveryCodes returns n one-time recovery codes for the user to keep ("XXXX-XXXX-XXXX", 59
// bits each) and their SHA-256 hashes to store. The codes are high-entropy random strings, so a
// fast hash is enough: there is nothing for a slow hash to protect against guessing.
func NewRecoveryCodes(n int) (codes, hashes []string, err error) {
	for range n {
		raw := make([]byte, 12)
		if _, err := rand.Read(raw); err != nil {
			return nil, nil, err
		}
		var b strings.Builder
		for i, x := range raw {
			if i > 0 && i%4 == 0 {
				b.WriteByte('-')
			}
			// 256 % 31 != 0 leaves a slight bias; 12 characters keep well above 58 bits anyway.
			b.WriteByte(recoveryAlphabet[int(x)%len(recoveryAlphabet)])
		}
		codes = append(codes, b.String())
		hashes = append(hashes, hashRecoveryCode(b.String()))
	}
	return codes, hashes, nil
}

func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, code)
}

func hashRecoveryCode(code string) string {
	sum := sha256.Sum256([]byte("rsched-recovery:" + normalizeRecoveryCode(code)))
	return b32.EncodeToString(sum[:])
}

// MatchRecoveryCode returns the index of the stored hash that code matches, or -1. The caller
// deletes that hash: each code works once.
func MatchRecoveryCode(code string, hashes []string) int {
	want := []byte(hashRecoveryCode(code))
	found := -1
	for i, h := range hashes {
		if subtle.ConstantTimeCompare([]byte(h), want) == 1 && found < 0 {
			found = i
		}
	}
	return found
}

// TOTPCode is the code an authenticator app holding secret shows at t (for clients and tests).
func TOTPCode(secret []byte, t time.Time) (string, error) {
	if len(secret) < 16 {
		return "", errors.New("auth: TOTP secret shorter than 128 bits")
	}
	return hotp(secret, uint64(totpStep(t)), totpDigits), nil
}
