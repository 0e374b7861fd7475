package auth

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1 rows: the 8-digit values for the 20-byte ASCII secret
// "12345678901234567890".
func TestHOTPMatchesTheRFC6238TestVectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for unix, want := range map[int64]string{
		59: "94287082", 1111111109: "07081804", 1111111111: "14050471",
		1234567890: "89005924", 2000000000: "69279037", 20000000000: "65353130",
	} {
		if got := hotp(secret, uint64(totpStep(time.Unix(unix, 0))), 8); got != want {
			t.Errorf("T=%d: %s, want %s", unix, got, want)
		}
		// The 6-digit code apps show is the same value modulo 10^6.
		if got := hotp(secret, uint64(totpStep(time.Unix(unix, 0))), 6); got != want[2:] {
			t.Errorf("T=%d (6 digits): %s, want %s", unix, got, want[2:])
		}
	}
}

func TestTOTPAcceptsTheWindowAndNeverTheSameCodeTwice(t *testing.T) {
	secret, err := NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 10, 0, time.UTC)
	codeAt := func(t time.Time) string { return hotp(secret, uint64(totpStep(t)), 6) }

	step, err := VerifyTOTP(secret, codeAt(now), now, 0)
	if err != nil || step != totpStep(now) {
		t.Fatalf("current code: step %d, %v", step, err)
	}
	if _, err := VerifyTOTP(secret, codeAt(now), now.Add(5*time.Second), step); !errors.Is(err, ErrTOTPInvalid) {
		t.Errorf("the same code again: %v, want ErrTOTPInvalid (replay)", err)
	}
	if _, err := VerifyTOTP(secret, codeAt(now.Add(-30*time.Second)), now, step); !errors.Is(err, ErrTOTPInvalid) {
		t.Errorf("an older code after a newer one was used: %v", err)
	}
	// Drift of one period either way is accepted; two is not.
	for offset, ok := range map[time.Duration]bool{-30 * time.Second: true, 30 * time.Second: true, -60 * time.Second: false, 60 * time.Second: false} {
		_, err := VerifyTOTP(secret, codeAt(now.Add(offset)), now, 0)
		if (err == nil) != ok {
			t.Errorf("code from %s: %v, accepted want %v", offset, err, ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef", "000000"} {
		if bad == codeAt(now) {
			continue
		}
		if _, err := VerifyTOTP(secret, bad, now, 0); !errors.Is(err, ErrTOTPInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	spaced := codeAt(now)[:3] + " " + codeAt(now)[3:]
	if _, err := VerifyTOTP(secret, spaced, now, 0); err != nil {
		t.Errorf("a code typed with a space: %v", err)
	}
}

func TestTOTPURIIsWhatAuthenticatorAppsRead(t *testing.T) {
	secret := []byte("12345678901234567890")
	u, err := url.Parse(TOTPURI(secret, "rsched", "dr.jones@hospital.example"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || !strings.Contains(u.Path, "rsched:dr.jones@hospital.example") ||
		q.Get("secret") != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" || q.Get("issuer") != "rsched" ||
		q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Errorf("URI %s", u)
	}
}

func TestRecoveryCodesWorkOnceEachAndAreStoredHashed(t *testing.T) {
	codes, hashes, err := NewRecoveryCodes(10)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if len(c) != 14 || strings.Count(c, "-") != 2 || strings.ContainsAny(c, "01ILO") {
			t.Errorf("code %q is not XXXX-XXXX-XXXX from the unambiguous alphabet", c)
		}
		if seen[c] || strings.Contains(strings.Join(hashes, " "), strings.ReplaceAll(c, "-", "")) {
			t.Errorf("code %d repeated or stored in clear", i)
		}
		seen[c] = true
	}
	// Typed in lower case without dashes, the fourth code matches the fourth hash.
	typed := strings.ToLower(strings.ReplaceAll(codes[3], "-", ""))
	i := MatchRecoveryCode(typed, hashes)
	if i != 3 {
		t.Fatalf("MatchRecoveryCode = %d, want 3", i)
	}
	hashes = append(hashes[:i], hashes[i+1:]...) // the caller deletes a used code
	if MatchRecoveryCode(codes[3], hashes) != -1 {
		t.Error("a used recovery code matched again")
	}
	if MatchRecoveryCode("AAAA-BBBB-CCCC", hashes) != -1 {
		t.Error("an invented code matched")
	}
}
