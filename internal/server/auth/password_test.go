package auth

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func newHasher(t testing.TB) *Hasher {
	t.Helper()
	h, err := NewHasher(DefaultArgon2Params)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashIsArgon2idPHCWithTheOWASPParameters(t *testing.T) {
	h := newHasher(t)
	a, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(a) {
		t.Fatalf("hash %q is not an argon2id PHC string with m=19456,t=2,p=1, 16-byte salt, 32-byte hash", a)
	}
	b, _ := h.Hash("correct horse battery staple")
	if a == b {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if rehash, err := h.Verify("correct horse battery staple", a); err != nil || rehash {
		t.Errorf("Verify(right password) = rehash %v, %v", rehash, err)
	}
	for _, wrong := range []string{"correct horse battery stapl", "Correct horse battery staple", "", strings.Repeat("x", MaxPasswordBytes+1)} {
		if _, err := h.Verify(wrong, a); !errors.Is(err, ErrPasswordMismatch) {
			t.Errorf("Verify(%.20q) = %v, want ErrPasswordMismatch", wrong, err)
		}
	}
	if _, err := h.Hash(strings.Repeat("x", MaxPasswordBytes+1)); err == nil {
		t.Error("hashed a password over MaxPasswordBytes")
	}
}

func TestLegacyBcryptHashesVerifyAndAskForARehash(t *testing.T) {
	h := newHasher(t)
	legacy, err := bcrypt.GenerateFromPassword([]byte("Predecessor#2025"), 10)
	if err != nil {
		t.Fatal(err)
	}
	rehash, err := h.Verify("Predecessor#2025", string(legacy))
	if err != nil || !rehash {
		t.Fatalf("bcrypt hash: rehash %v, %v; want a match that asks for a rehash", rehash, err)
	}
	if _, err := h.Verify("predecessor#2025", string(legacy)); !errors.Is(err, ErrPasswordMismatch) {
		t.Errorf("wrong password against bcrypt: %v", err)
	}
}

func TestPasswordsMatchWhateverUnicodeFormTheDeviceSends(t *testing.T) {
	h := newHasher(t)
	nfc := "Caf\u00e9-au-lait-2026!"  // é as one code point
	nfd := "Cafe\u0301-au-lait-2026!" // e + combining acute accent
	encoded, _ := h.Hash(nfc)
	if _, err := h.Verify(nfd, encoded); err != nil {
		t.Errorf("the same password in NFD did not match its NFC hash: %v", err)
	}
	if _, err := h.Verify("\uff23afe\u0301-au-lait-2026!", encoded); err != nil { // full-width C
		t.Errorf("full-width form did not match: %v", err)
	}
}

func TestHashingIsBoundedUnderALoginFlood(t *testing.T) {
	h := newHasher(t)
	encoded, _ := h.Hash("Flood-test-Passw0rd")
	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release := h.acquire()
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			running.Add(-1)
			release()
		}()
	}
	wg.Wait()
	if limit := int32(cap(h.slots)); peak.Load() > limit || limit < 2 {
		t.Errorf("%d hashes ran at once; the limit is %d", peak.Load(), limit)
	}
	if _, err := h.Verify("Flood-test-Passw0rd", encoded); err != nil {
		t.Errorf("verification after the flood: %v", err)
	}
}

func TestChangedParametersAskForARehash(t *testing.T) {
	old, err := NewHasher(Argon2Params{MemoryKiB: 7168, Iterations: 5, Parallelism: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	encoded, _ := old.Hash("Tr0ub4dor&3-horse")
	rehash, err := newHasher(t).Verify("Tr0ub4dor&3-horse", encoded)
	if err != nil || !rehash {
		t.Errorf("a hash with older parameters: rehash %v, %v", rehash, err)
	}
}

func TestMalformedOrAbusiveHashesAreRefused(t *testing.T) {
	h := newHasher(t)
	good, _ := h.Hash("x")
	parts := strings.Split(good, "$")
	for name, encoded := range map[string]string{
		"empty":                "",
		"plain text":           "hunter2",
		"md5 crypt":            "$1$abc$def",
		"argon2i":              strings.Replace(good, "argon2id", "argon2i", 1),
		"wrong version":        strings.Replace(good, "v=19", "v=16", 1),
		"4 GiB of memory":      strings.Replace(good, "m=19456", "m=4194304", 1),
		"1000 iterations":      strings.Replace(good, "t=2", "t=1000", 1),
		"zero parallelism":     strings.Replace(good, "p=1", "p=0", 1),
		"short salt":           strings.Join(append(parts[:4:4], "c2FsdA", parts[5]), "$"),
		"non-base64 hash":      strings.Join(append(parts[:5:5], "!!!"), "$"),
		"extra segment":        good + "$x",
		"truncated bcrypt":     "$2b$10$abc",
		"parameters not a map": strings.Replace(good, "m=19456,t=2,p=1", "m=x", 1),
		"trailing text":        strings.Replace(good, "p=1$", "p=1junk$", 1),
		"version with junk":    strings.Replace(good, "v=19", "v=19junk", 1),
		"512 MiB stored":       strings.Replace(good, "m=19456", "m=524288", 1),
		"p=64 stored":          strings.Replace(good, "p=1", "p=64", 1),
		"bcrypt cost 31":       "$2b$31$" + strings.Repeat("a", 53),
	} {
		if _, err := h.Verify("x", encoded); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewHasher(Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}); err == nil {
		t.Error("NewHasher accepted 1 MiB of memory, below OWASP's minimum")
	}
}

// A login for a username that does not exist must cost what a wrong password costs, or response
// times would tell which accounts exist. Medians of several runs, compared loosely: Argon2id's
// 19 MiB pass dominates both paths.
func TestUnknownUsersCostAsMuchAsKnownOnes(t *testing.T) {
	h := newHasher(t)
	stored, _ := h.Hash("the real password!")
	median := func(f func()) time.Duration {
		var ds []time.Duration
		for range 7 {
			start := time.Now()
			f()
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	known := median(func() { _, _ = h.Verify("a wrong password", stored) })
	unknown := median(func() { _ = h.VerifyUnknown("a wrong password") })
	ratio := float64(unknown) / float64(known)
	t.Logf("wrong password for a known user %s, any password for an unknown user %s (ratio %.2f)", known, unknown, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Errorf("unknown-user verification costs %.2fx a known user's", ratio)
	}
	if err := h.VerifyUnknown("the real password!"); !errors.Is(err, ErrPasswordMismatch) {
		t.Errorf("VerifyUnknown = %v", err)
	}
}

func TestPasswordPolicy(t *testing.T) {
	p := DefaultPasswordPolicy
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		password, want string // want "" means accepted
	}{
		{"Vr8#kq!Lm2zP", ""},
		{"correct-Horse-battery-7", ""},
		{"Ünïcödé-Pässwort-9", ""},
		{"Sh0rt#Pass", "use at least 12 characters"},
		{"alllowercase-but-long1", "mix at least 4 of"},
		{"NoDigitsOrSymbolsHere", "mix at least 4 of"},
		{"Password123!", "avoid common passwords"},
		{"P@ssw0rd2026!", "avoid common passwords"},
		{"!!Welcome2026", "avoid common passwords"},
		{"Qwerty123456!", "avoid common passwords"},
		{"Scheduler#2026", "avoid common passwords"},
		{"Dev_only_password1", "avoid common passwords"},
		{"PasswordPassword1!", "avoid common passwords"},
		{"Aa1!Aa1!Aa1!", "avoid repeating a short pattern"},
		{"jsmith-Rocks#2026", "do not include your username or e-mail address"},
		{"X9#drjones.md-tk", "do not include your username or e-mail address"},
		{strings.Repeat("Ab1!", 40) + "z", "use at most 128 characters"},
		{"Valid-Looking-1\xff", "use valid UTF-8 text"},
		// Decorations that a base-word check alone lets through (security review).
		{"Password#2026x", "avoid common passwords"},
		{"Welcome\u20262026!a", "avoid common passwords"},
		{"Welcom3!2026", "avoid common passwords"},
		{"@dmin!2026Xy", "avoid common passwords"},
		{"$ummer2026!Ab", "avoid common passwords"},
		{"MyPassword#2026", "avoid common passwords"},
		{"Password1!Password1!", "avoid common passwords"},
		{"\uff30\uff41\uff53\uff53\uff57\uff4f\uff52\uff44#2026", "avoid common passwords"},
		{"Aa1\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b", "do not use control or invisible characters"},
		{"Aa1!xyz\x00\x00\x00\x00\x00", "do not use control or invisible characters"},
		// Short blocked words only count as the whole word: honest passphrases stay possible.
		{"Testament-of-Youth-1933", ""},
		{"Lovely-Pastel-Orchid-42", ""},
	} {
		err := p.Check(c.password, "jsmith", "drjones.md@hospital.example")
		if c.want == "" {
			if err != nil {
				t.Errorf("%q refused: %v", c.password, err)
			}
			continue
		}
		var pe *PolicyError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want a policy error saying %q", c.password, err, c.want)
		}
	}
	// All problems are reported at once, so a user fixes them in one go.
	err := p.Check("password", "", "")
	var pe *PolicyError
	if !errors.As(err, &pe) || len(pe.Problems) < 3 {
		t.Errorf("\"password\": %v, want at least 3 problems", err)
	}
}

func TestPasswordHistoryAndAge(t *testing.T) {
	h := newHasher(t)
	p := DefaultPasswordPolicy
	p.HistorySize = 2
	var previous []string
	for _, pw := range []string{"Newest#Pass-2026", "Older#Pass-2025", "Oldest#Pass-2024"} {
		e, _ := h.Hash(pw)
		previous = append(previous, e)
	}
	if err := p.CheckHistory(h, "Older#Pass-2025", previous); err == nil || !strings.Contains(err.Error(), "last 2 passwords") {
		t.Errorf("reusing the second newest: %v", err)
	}
	if err := p.CheckHistory(h, "Oldest#Pass-2024", previous); err != nil {
		t.Errorf("a password older than the history: %v", err)
	}
	if err := p.CheckHistory(h, "Brand#New-Pass-1", previous); err != nil {
		t.Errorf("a new password: %v", err)
	}
	set := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if p.Expired(set, set.Add(2159*time.Hour)) || !p.Expired(set, set.Add(2160*time.Hour)) {
		t.Error("a 90-day password should expire exactly at 90 days")
	}
	p.MaxAge = 0
	if p.Expired(set, set.Add(100000*time.Hour)) {
		t.Error("max age 0 should never expire")
	}
	for _, bad := range []PasswordPolicy{
		{MinLength: 6, MaxLength: 128, RequiredClasses: 4},
		{MinLength: 12, MaxLength: 10},
		{MinLength: 12, MaxLength: 128, RequiredClasses: 5},
		{MinLength: 12, MaxLength: 128, HistorySize: 25},
	} {
		if bad.Validate() == nil {
			t.Errorf("policy %+v accepted", bad)
		}
	}
}

// BenchmarkHashPassword is the cost of a login: one Argon2id with m=19456 KiB, t=2, p=1.
func BenchmarkHashPassword(b *testing.B) {
	h := newHasher(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	h := newHasher(b)
	encoded, _ := h.Hash("correct horse battery staple")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Verify("correct horse battery staple", encoded); err != nil {
			b.Fatal(err)
		}
	}
}
