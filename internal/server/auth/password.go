package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2Params are the Argon2id cost parameters. The defaults are OWASP's first recommended
// configuration (Password Storage Cheat Sheet): 19 MiB of memory, 2 passes, 1 lane.
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	SaltLen     uint32
	KeyLen      uint32
}

// DefaultArgon2Params are OWASP's m=19456 KiB, t=2, p=1, with a 16-byte salt and 32-byte hash.
var DefaultArgon2Params = Argon2Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// MaxPasswordBytes bounds what is hashed, so a huge "password" cannot be used to burn CPU.
const MaxPasswordBytes = 1024

func (p Argon2Params) validate() error {
	switch {
	case p.MemoryKiB < 7168 || p.MemoryKiB > 1<<21:
		return fmt.Errorf("argon2id memory %d KiB is outside 7168..2097152 (OWASP's minimum is 7 MiB)", p.MemoryKiB)
	case p.Iterations < 1 || p.Iterations > 20:
		return fmt.Errorf("argon2id iterations %d is outside 1..20", p.Iterations)
	case p.Parallelism < 1:
		return errors.New("argon2id parallelism must be at least 1")
	case p.SaltLen < 16 || p.SaltLen > 64:
		return fmt.Errorf("argon2id salt length %d is outside 16..64", p.SaltLen)
	case p.KeyLen < 32 || p.KeyLen > 64:
		return fmt.Errorf("argon2id hash length %d is outside 32..64", p.KeyLen)
	}
	return nil
}

// maxBcryptCost bounds legacy hashes: the predecessor used 12.
const maxBcryptCost = 13

// Hasher hashes passwords with Argon2id and verifies Argon2id and legacy bcrypt hashes. At most
// a few hashes run at once (each Argon2id pass holds its memory, 19 MiB by default), so a flood of
// logins queues instead of exhausting the pod's memory.
type Hasher struct {
	params Argon2Params
	slots  chan struct{}
	// dummy is a hash of a random password with the current parameters: verifying against it
	// costs what a real verification costs, for logins of users that do not exist.
	dummy string
}

// ErrPasswordMismatch is returned when a password does not match a hash (or the user does not
// exist: callers must not be able to tell the two apart).
var ErrPasswordMismatch = errors.New("password does not match")

// NewHasher returns a Hasher with params.
func NewHasher(params Argon2Params) (*Hasher, error) {
	if err := params.validate(); err != nil {
		return nil, err
	}
	h := &Hasher{params: params, slots: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
	random := make([]byte, 32)
	if _, err := rand.Read(random); err != nil {
		return nil, err
	}
	dummy, err := h.Hash(base64.RawStdEncoding.EncodeToString(random))
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Hash returns the PHC string of password: $argon2id$v=19$m=..,t=..,p=..$salt$hash.
func (h *Hasher) Hash(password string) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", fmt.Errorf("password longer than %d bytes", MaxPasswordBytes)
	}
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := h.params
	release := h.acquire()
	defer release()
	key := argon2.IDKey([]byte(NormalizePassword(password)), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify checks password against an Argon2id or bcrypt hash. needsRehash is true when the hash
// is bcrypt or uses other Argon2id parameters than the Hasher's: the caller then stores a fresh
// Hash of the password it has just verified.
func (h *Hasher) Verify(password, encoded string) (needsRehash bool, err error) {
	if len(password) > MaxPasswordBytes {
		return false, ErrPasswordMismatch
	}
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, salt, want, err := parseArgon2id(encoded)
		if err != nil {
			return false, err
		}
		release := h.acquire()
		got := argon2.IDKey([]byte(NormalizePassword(password)), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(want)))
		release()
		if subtle.ConstantTimeCompare(got, want) != 1 {
			return false, ErrPasswordMismatch
		}
		return p.MemoryKiB != h.params.MemoryKiB || p.Iterations != h.params.Iterations ||
			p.Parallelism != h.params.Parallelism || uint32(len(want)) != h.params.KeyLen || uint32(len(salt)) != h.params.SaltLen, nil
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		// The predecessor's hashes (passlib bcrypt, 12 rounds), made from the password as typed.
		// bcrypt reads only 72 bytes; a longer password that matches on its prefix still counts,
		// as it did before, and the rehash that follows ends that. A stored cost above 13 would
		// let one row stall logins, so it is refused.
		if cost, err := bcrypt.Cost([]byte(encoded)); err != nil || cost > maxBcryptCost {
			return false, errors.New("auth: malformed bcrypt hash or cost above 13")
		}
		release := h.acquire()
		err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password))
		release()
		if err != nil {
			if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
				return false, ErrPasswordMismatch
			}
			return false, errors.New("auth: malformed bcrypt hash")
		}
		return true, nil
	}
	return false, errors.New("auth: unknown password hash format")
}

// acquire takes one of the hashing slots and returns its release.
func (h *Hasher) acquire() func() {
	h.slots <- struct{}{}
	return func() { <-h.slots }
}

// VerifyUnknown spends the time of a real verification and fails. Call it when the user does not
// exist, so that response time does not reveal which usernames exist.
func (h *Hasher) VerifyUnknown(password string) error {
	_, _ = h.Verify(password, h.dummy)
	return ErrPasswordMismatch
}

// phc is the exact shape of an Argon2id PHC string; anything else (trailing text included) is
// refused.
var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=([0-9]{1,7}),t=([0-9]{1,2}),p=([0-9]{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

// Bounds on the parameters of a stored hash: a stored hash is trusted data, but a row with
// m=2 GiB or t=20 must not be able to stall every login.
const (
	maxStoredMemoryKiB   = 262144 // 256 MiB
	maxStoredIterations  = 10
	maxStoredParallelism = 8
)

// parseArgon2id reads a PHC string.
func parseArgon2id(encoded string) (Argon2Params, []byte, []byte, error) {
	bad := errors.New("auth: malformed argon2id hash")
	m := phc.FindStringSubmatch(encoded)
	if m == nil {
		return Argon2Params{}, nil, nil, bad
	}
	var p Argon2Params
	var par uint32
	if _, err := fmt.Sscanf(m[1]+" "+m[2]+" "+m[3], "%d %d %d", &p.MemoryKiB, &p.Iterations, &par); err != nil || par > 255 {
		return Argon2Params{}, nil, nil, bad
	}
	p.Parallelism = uint8(par)
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(m[4])
	key, err2 := base64.RawStdEncoding.Strict().DecodeString(m[5])
	if err1 != nil || err2 != nil {
		return Argon2Params{}, nil, nil, bad
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return Argon2Params{}, nil, nil, fmt.Errorf("auth: stored argon2id hash: %w", err)
	}
	if p.MemoryKiB > maxStoredMemoryKiB || p.Iterations > maxStoredIterations || p.Parallelism > maxStoredParallelism {
		return Argon2Params{}, nil, nil, errors.New("auth: stored argon2id hash has parameters beyond the allowed bounds")
	}
	return p, salt, key, nil
}
