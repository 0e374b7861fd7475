package auth

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// PasswordPolicy is the rule set for new passwords (SchedulerInstance auth.passwordPolicy).
type PasswordPolicy struct {
	// MinLength in characters (runes); at least 8. Default 12.
	MinLength int
	// MaxLength in characters; long passphrases are welcome, but hashing is bounded. Default 128.
	MaxLength int
	// RequiredClasses is how many of lower case, upper case, digit and other characters must
	// appear; 0 to 4. Default 4 (the seeds' policy: one of each).
	RequiredClasses int
	// HistorySize is how many previous passwords may not be reused. Default 5.
	HistorySize int
	// MaxAge after which a password must be changed; 0 means never. Default 90 days.
	MaxAge time.Duration
}

// DefaultPasswordPolicy is the seeds' policy.
var DefaultPasswordPolicy = PasswordPolicy{MinLength: 12, MaxLength: 128, RequiredClasses: 4, HistorySize: 5, MaxAge: 2160 * time.Hour}

// PolicyError lists every rule a password breaks, as sentences for the API's "detail".
type PolicyError struct {
	Problems []string
}

func (e *PolicyError) Error() string {
	return "password does not meet the policy: " + strings.Join(e.Problems, "; ")
}

// Validate checks the policy itself.
func (p PasswordPolicy) Validate() error {
	switch {
	case p.MinLength < 8:
		return fmt.Errorf("password policy: minimum length %d is below 8", p.MinLength)
	case p.MaxLength < p.MinLength || p.MaxLength > 256:
		return fmt.Errorf("password policy: maximum length %d must be from the minimum (%d) to 256", p.MaxLength, p.MinLength)
	case p.RequiredClasses < 0 || p.RequiredClasses > 4:
		return fmt.Errorf("password policy: required character classes %d is outside 0..4", p.RequiredClasses)
	case p.HistorySize < 0 || p.HistorySize > 24:
		return fmt.Errorf("password policy: history size %d is outside 0..24", p.HistorySize)
	case p.MaxAge < 0:
		return errors.New("password policy: maximum age is negative")
	}
	return nil
}

//go:embed blocklist.txt
var blocklistText string

var blocklist = func() map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(blocklistText, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			m[line] = true
		}
	}
	return m
}()

// Check returns a *PolicyError naming every rule password breaks, or nil. username and email, when
// given, may not appear in the password.
func (p PasswordPolicy) Check(password, username, email string) error {
	var problems []string
	n := utf8.RuneCountInString(password)
	if n < p.MinLength {
		problems = append(problems, fmt.Sprintf("use at least %d characters", p.MinLength))
	}
	if n > p.MaxLength || len(password) > MaxPasswordBytes {
		problems = append(problems, fmt.Sprintf("use at most %d characters", p.MaxLength))
	}
	if !utf8.ValidString(password) {
		problems = append(problems, "use valid UTF-8 text")
	}
	if strings.IndexFunc(password, invisible) >= 0 {
		problems = append(problems, "do not use control or invisible characters")
	}
	// Judge the password as it will be hashed: NFKC folds full-width and compatibility forms
	// ("Ｐａｓｓｗｏｒｄ" is "Password").
	password = NormalizePassword(password)
	if c := classes(password); c < p.RequiredClasses {
		problems = append(problems, fmt.Sprintf("mix at least %d of: lower-case letters, upper-case letters, digits, other characters", p.RequiredClasses))
	}
	if containsBlocked(password) {
		problems = append(problems, "avoid common passwords and words such as \"password\", \"welcome\" or the product's name, even with digits or symbols added")
	}
	if repeatsShortPattern(password) {
		problems = append(problems, "avoid repeating a short pattern")
	}
	lower := strings.ToLower(password)
	for _, part := range []string{username, localPart(email)} {
		if len(part) >= 3 && strings.Contains(lower, strings.ToLower(part)) {
			problems = append(problems, "do not include your username or e-mail address")
			break
		}
	}
	if len(problems) > 0 {
		return &PolicyError{Problems: problems}
	}
	return nil
}

// CheckHistory refuses a password that matches one of the user's previous password hashes (the
// newest HistorySize of them are passed in).
func (p PasswordPolicy) CheckHistory(h *Hasher, password string, previous []string) error {
	for i, encoded := range previous {
		if i >= p.HistorySize {
			break
		}
		if _, err := h.Verify(password, encoded); err == nil {
			return &PolicyError{Problems: []string{fmt.Sprintf("do not reuse one of your last %d passwords", p.HistorySize)}}
		}
	}
	return nil
}

// Expired reports whether a password set at changedAt must be changed at now.
func (p PasswordPolicy) Expired(changedAt, now time.Time) bool {
	return p.MaxAge > 0 && !now.Before(changedAt.Add(p.MaxAge))
}

func classes(s string) int {
	var lower, upper, digit, other bool
	for _, r := range s {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	n := 0
	for _, b := range []bool{lower, upper, digit, other} {
		if b {
			n++
		}
	}
	return n
}

var unleet = strings.NewReplacer("0", "o", "1", "i", "3", "e", "4", "a", "5", "s", "7", "t", "@", "a", "$", "s", "!", "i", "|", "l", "+", "t")

func lettersOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) {
			return r
		}
		return -1
	}, s)
}

// minSubstringWord is the shortest blocked word that is also refused inside a longer password;
// shorter ones ("pass", "love", "test") would refuse too many honest passphrases, so they only
// count when they are the whole base word.
const minSubstringWord = 5

// containsBlocked looks for a blocked word in several readings of the password, because people
// decorate a weak word in many ways: "MyPassword#2026", "Welcom3!2026", "@dmin!2026Xy",
// "$ummer2026!Ab", "Password1!Password1!".
func containsBlocked(password string) bool {
	lower := strings.ToLower(password)
	trimmed := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	forms := []string{
		lettersOnly(lower),                   // digits and symbols dropped
		lettersOnly(unleet.Replace(lower)),   // substitutions undone everywhere
		lettersOnly(unleet.Replace(trimmed)), // substitutions undone inside the word only
	}
	if blocklist[lower] {
		return true
	}
	for _, f := range forms {
		if blocklist[f] || repeatsBlocked(f) {
			return true
		}
		for w := range blocklist {
			if len(w) >= minSubstringWord && strings.Contains(f, w) {
				return true
			}
		}
	}
	return false
}

// repeatsBlocked catches a blocked word written several times ("passwordpassword").
func repeatsBlocked(w string) bool {
	for unit := 1; unit <= len(w)/2; unit++ {
		if len(w)%unit == 0 && blocklist[w[:unit]] && strings.Repeat(w[:unit], len(w)/unit) == w {
			return true
		}
	}
	return false
}

// invisible reports control and format characters (NUL, zero-width space, bidi marks): they pad a
// password's length without adding anything a person can type reliably.
func invisible(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// NormalizePassword is applied before a password is checked, hashed or verified, so the same
// password typed on devices that compose characters differently (NFC, NFD, full-width) matches.
func NormalizePassword(p string) string { return norm.NFKC.String(p) }

// repeatsShortPattern catches "Aa1!Aa1!Aa1!" and "aaaaaaaaaaaa": a unit of up to 4 characters
// repeated to fill the whole password.
func repeatsShortPattern(s string) bool {
	r := []rune(s)
	for unit := 1; unit <= 4 && unit < len(r); unit++ {
		if len(r)%unit != 0 {
			continue
		}
		if strings.Repeat(string(r[:unit]), len(r)/unit) == s {
			return true
		}
	}
	return false
}

func localPart(email string) string {
	if i := strings.IndexByte(email, '@'); i > 0 {
		return email[:i]
	}
	return ""
}
