package keyring

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// FormatVersion is the version of the file format this package reads and writes.
const FormatVersion = 1

// MaxFileSize bounds what Parse accepts; a real keyring is a few kilobytes.
const MaxFileSize = 1 << 20

// Algorithms.
const (
	HS256     = "HS256"
	HS512     = "HS512"
	EdDSA     = "EdDSA"
	AES256GCM = "AES256GCM"
)

// State is the lifecycle state of one key version. The names match KeyRotationPolicy's status.
type State string

const (
	// Staged keys are published to every replica (they verify and decrypt) but do not sign or
	// encrypt yet: a rotation stages the next version first, so no replica ever signs with a key
	// that its peers have not loaded.
	Staged State = "staged"
	// Active keys sign (one signing key) or encrypt (one encryption key) new data.
	Active State = "active"
	// VerifyOnly signing keys verify tokens until NotAfter.
	VerifyOnly State = "verify-only"
	// DecryptOnly encryption keys decrypt data written with them.
	DecryptOnly State = "decrypt-only"
	// Retired keys are listed for the record only and never used.
	Retired State = "retired"
)

// File is the keyring as stored on disk (and in the Secret's "keyring.json" key).
type File struct {
	// Format is FormatVersion.
	Format int `json:"format"`
	// Version increases with every change of the file (a rotation's stage and activation, a
	// retirement); a reader refuses a changed file that keeps or lowers it. The rotation counter
	// (KeyRotationPolicy status.currentVersion) is the number in the key ids instead.
	Version int64 `json:"version"`
	// Signing keys for access tokens.
	Signing []FileKey `json:"signing"`
	// Encryption keys for confidential fields.
	Encryption []FileKey `json:"encryption"`
}

// FileKey is one key version in the file.
type FileKey struct {
	// KID identifies the version: the JWT "kid" header for signing keys, the key reference stored
	// in ciphertexts for encryption keys. 1-64 characters of [A-Za-z0-9._-].
	KID string `json:"kid"`
	// Algorithm is HS256, HS512 or EdDSA (signing) or AES256GCM (encryption).
	Algorithm string `json:"algorithm"`
	// State is staged, active, verify-only (signing), decrypt-only (encryption) or retired.
	State State `json:"state"`
	// CreatedAt is when the version was generated.
	CreatedAt time.Time `json:"created_at"`
	// NotAfter ends a verify-only signing key's validity; required for that state only.
	NotAfter *time.Time `json:"not_after,omitempty"`
	// Key is the material, base64 (standard encoding): the HMAC secret (HS256 at least 32 bytes,
	// HS512 at least 64), the 32-byte Ed25519 seed, or the 32-byte AES key. Retired keys may omit it.
	Key []byte `json:"key,omitempty"`
}

// SigningKey is a validated signing key version.
type SigningKey struct {
	KID       string
	Algorithm string
	State     State
	CreatedAt time.Time
	NotAfter  time.Time // zero unless verify-only

	secret  []byte             // HS256, HS512
	private ed25519.PrivateKey // EdDSA
}

// EncryptionKey is a validated encryption key version.
type EncryptionKey struct {
	KID       string
	Algorithm string
	State     State
	CreatedAt time.Time

	key []byte
}

// Keyring is a validated keyring. It is immutable, so it can be shared between goroutines.
type Keyring struct {
	Version int64

	signing          map[string]*SigningKey
	activeSigning    *SigningKey
	encryption       map[string]*EncryptionKey
	activeEncryption *EncryptionKey
}

// Source gives the keyring in use; a *Watcher is one. Callers take one keyring per operation, so
// a reload in the middle of a request cannot mix two keyrings.
type Source interface {
	Current() *Keyring
}

var kidPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ErrUnknownKey is returned for a kid the keyring does not hold, or holds in a state that may not
// be used for the operation asked.
var ErrUnknownKey = errors.New("keyring: no usable key with that kid")

// Parse decodes and validates a keyring file. Unknown fields are rejected, so a typo never
// silently drops a key. Errors name keys by kid and never contain key material.
func Parse(data []byte) (*Keyring, error) {
	f, err := Decode(data)
	if err != nil {
		return nil, err
	}
	return f.Validate()
}

// Decode is Parse for the writer: it returns the validated File itself, which the operator
// changes and marshals again.
func Decode(data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("keyring: file is %d bytes, more than the %d allowed", len(data), MaxFileSize)
	}
	if err := exactKeys(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("keyring: not a valid keyring file: %w", sanitizeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("keyring: trailing data after the keyring object")
	}
	if _, err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// exactKeys refuses what encoding/json would quietly accept: a key given twice (the last one
// wins) and a key in another case ("FORMAT" matches "format"). Both would let a file say one thing
// to a reviewer and another to the parser. Every key of the format is lower case.
func exactKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object bool
		keys   map[string]bool
		expect bool // in an object, the next token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("keyring: not a valid keyring file: %w", sanitizeJSONError(err))
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if key, isKey := tok.(string); isKey && top != nil && top.object && top.expect {
			if key != strings.ToLower(key) {
				return fmt.Errorf("keyring: key %q is not lower case", key)
			}
			if top.keys[key] {
				return fmt.Errorf("keyring: key %q appears twice in one object", key)
			}
			top.keys[key] = true
			top.expect = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, expect: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value was read: in an object, a key comes next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].expect = true
		}
	}
}

// sanitizeJSONError keeps the position and kind of a decoding error but drops the offending
// value, which could be (part of) a key.
func sanitizeJSONError(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("syntax error at byte %d", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("field %q has the wrong type (want %s)", typ.Field, typ.Type)
	}
	var b64 base64.CorruptInputError
	if errors.As(err, &b64) {
		return errors.New("a key is not valid base64")
	}
	if msg := err.Error(); len(msg) < 120 && bytes.HasPrefix([]byte(msg), []byte("json: unknown field")) {
		return err // names the field, not a value
	}
	return errors.New("malformed JSON")
}

// Validate checks a File and builds the Keyring from it.
func (f *File) Validate() (*Keyring, error) {
	if f.Format != FormatVersion {
		return nil, fmt.Errorf("keyring: format %d is not supported (want %d)", f.Format, FormatVersion)
	}
	if f.Version < 1 {
		return nil, errors.New("keyring: version must be at least 1")
	}
	kr := &Keyring{
		Version:    f.Version,
		signing:    map[string]*SigningKey{},
		encryption: map[string]*EncryptionKey{},
	}
	seen := map[string]bool{}
	for i := range f.Signing {
		k, err := validateSigning(&f.Signing[i])
		if err != nil {
			return nil, fmt.Errorf("keyring: signing key %d (%s): %w", i, displayKID(f.Signing[i].KID), err)
		}
		if seen[k.KID] {
			return nil, fmt.Errorf("keyring: kid %q is used twice", k.KID)
		}
		seen[k.KID] = true
		kr.signing[k.KID] = k
		if k.State == Active {
			if kr.activeSigning != nil {
				return nil, fmt.Errorf("keyring: signing keys %q and %q are both active; exactly one must be", kr.activeSigning.KID, k.KID)
			}
			kr.activeSigning = k
		}
	}
	for i := range f.Encryption {
		k, err := validateEncryption(&f.Encryption[i])
		if err != nil {
			return nil, fmt.Errorf("keyring: encryption key %d (%s): %w", i, displayKID(f.Encryption[i].KID), err)
		}
		if seen[k.KID] {
			return nil, fmt.Errorf("keyring: kid %q is used twice", k.KID)
		}
		seen[k.KID] = true
		kr.encryption[k.KID] = k
		if k.State == Active {
			if kr.activeEncryption != nil {
				return nil, fmt.Errorf("keyring: encryption keys %q and %q are both active; exactly one must be", kr.activeEncryption.KID, k.KID)
			}
			kr.activeEncryption = k
		}
	}
	if kr.activeSigning == nil {
		return nil, errors.New("keyring: no active signing key; exactly one must be active")
	}
	if kr.activeEncryption == nil {
		return nil, errors.New("keyring: no active encryption key; exactly one must be active")
	}
	return kr, nil
}

func displayKID(kid string) string {
	if kidPattern.MatchString(kid) {
		return "kid " + kid
	}
	return "invalid kid"
}

func validateCommon(k *FileKey) error {
	if !kidPattern.MatchString(k.KID) {
		return errors.New("kid must be 1-64 characters of A-Z a-z 0-9 . _ -")
	}
	if k.CreatedAt.IsZero() {
		return errors.New("created_at is required")
	}
	return nil
}

func validateSigning(k *FileKey) (*SigningKey, error) {
	if err := validateCommon(k); err != nil {
		return nil, err
	}
	out := &SigningKey{KID: k.KID, Algorithm: k.Algorithm, State: k.State, CreatedAt: k.CreatedAt}
	switch k.State {
	case Staged, Active, Retired:
		if k.NotAfter != nil {
			return nil, fmt.Errorf("not_after applies to verify-only keys, not %s", k.State)
		}
	case VerifyOnly:
		if k.NotAfter == nil {
			return nil, errors.New("a verify-only key needs not_after")
		}
		out.NotAfter = *k.NotAfter
	default:
		return nil, fmt.Errorf("state %q is not one of staged, active, verify-only, retired", k.State)
	}
	if k.State == Retired && len(k.Key) == 0 {
		if !knownSigningAlgorithm(k.Algorithm) {
			return nil, fmt.Errorf("algorithm %q is not one of HS256, HS512, EdDSA", k.Algorithm)
		}
		return out, nil
	}
	switch k.Algorithm {
	case HS256, HS512:
		minLen := 32
		if k.Algorithm == HS512 {
			minLen = 64
		}
		if len(k.Key) < minLen {
			return nil, fmt.Errorf("an %s key needs at least %d bytes, got %d", k.Algorithm, minLen, len(k.Key))
		}
		out.secret = bytes.Clone(k.Key)
	case EdDSA:
		if len(k.Key) != ed25519.SeedSize {
			return nil, fmt.Errorf("an EdDSA key is a %d-byte Ed25519 seed, got %d bytes", ed25519.SeedSize, len(k.Key))
		}
		out.private = ed25519.NewKeyFromSeed(k.Key)
	default:
		return nil, fmt.Errorf("algorithm %q is not one of HS256, HS512, EdDSA", k.Algorithm)
	}
	return out, nil
}

func knownSigningAlgorithm(a string) bool { return a == HS256 || a == HS512 || a == EdDSA }

func validateEncryption(k *FileKey) (*EncryptionKey, error) {
	if err := validateCommon(k); err != nil {
		return nil, err
	}
	if k.NotAfter != nil {
		return nil, errors.New("not_after applies to verify-only signing keys only")
	}
	switch k.State {
	case Staged, Active, DecryptOnly, Retired:
	default:
		return nil, fmt.Errorf("state %q is not one of staged, active, decrypt-only, retired", k.State)
	}
	if k.Algorithm != AES256GCM {
		return nil, fmt.Errorf("algorithm %q is not AES256GCM", k.Algorithm)
	}
	out := &EncryptionKey{KID: k.KID, Algorithm: k.Algorithm, State: k.State, CreatedAt: k.CreatedAt}
	if k.State == Retired && len(k.Key) == 0 {
		return out, nil
	}
	if len(k.Key) != 32 {
		return nil, fmt.Errorf("an AES256GCM key is 32 bytes, got %d", len(k.Key))
	}
	out.key = bytes.Clone(k.Key)
	return out, nil
}

// ActiveSigningKey is the key that signs new tokens.
func (k *Keyring) ActiveSigningKey() *SigningKey { return k.activeSigning }

// VerificationKey returns the key that may verify a token with header kid at time now: the
// active key, a staged key, or a verify-only key before its NotAfter. Anything else, including a
// retired or unknown kid, is ErrUnknownKey.
func (k *Keyring) VerificationKey(kid string, now time.Time) (*SigningKey, error) {
	key, ok := k.signing[kid]
	if !ok {
		return nil, ErrUnknownKey
	}
	switch key.State {
	case Active, Staged:
		return key, nil
	case VerifyOnly:
		if now.Before(key.NotAfter) {
			return key, nil
		}
	}
	return nil, ErrUnknownKey
}

// ActiveEncryptionKey is the key that encrypts new data.
func (k *Keyring) ActiveEncryptionKey() *EncryptionKey { return k.activeEncryption }

// DecryptionKey returns the key that may decrypt data written with kid: any version still holding
// its material that is not retired.
func (k *Keyring) DecryptionKey(kid string) (*EncryptionKey, error) {
	key, ok := k.encryption[kid]
	if !ok || key.State == Retired {
		return nil, ErrUnknownKey
	}
	return key, nil
}

// SigningKIDs lists the kids of the signing keys, sorted; for status reporting.
func (k *Keyring) SigningKIDs() []string { return sortedKeys(k.signing) }

// EncryptionKIDs lists the kids of the encryption keys, sorted; for status reporting.
func (k *Keyring) EncryptionKIDs() []string { return sortedKeys(k.encryption) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for kid := range m {
		out = append(out, kid)
	}
	sort.Strings(out)
	return out
}

// Secret is the HMAC secret of an HS256 or HS512 key (nil for EdDSA). Callers must not modify it.
func (s *SigningKey) Secret() []byte { return s.secret }

// PrivateKey is the Ed25519 private key of an EdDSA key (nil otherwise).
func (s *SigningKey) PrivateKey() ed25519.PrivateKey { return s.private }

// PublicKey is the Ed25519 public key of an EdDSA key (nil otherwise).
func (s *SigningKey) PublicKey() ed25519.PublicKey {
	if s.private == nil {
		return nil
	}
	return s.private.Public().(ed25519.PublicKey)
}

// String names the key without its material.
func (s *SigningKey) String() string {
	return fmt.Sprintf("signing key %s (%s, %s)", s.KID, s.Algorithm, s.State)
}

// GoString keeps %#v from printing the material.
func (s *SigningKey) GoString() string { return s.String() }

// Format makes every verb (%v, %+v, %s, %#v) print String.
func (s *SigningKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// Key is the 32-byte AES key. Callers must not modify it.
func (e *EncryptionKey) Key() []byte { return e.key }

// String names the key without its material.
func (e *EncryptionKey) String() string {
	return fmt.Sprintf("encryption key %s (%s, %s)", e.KID, e.Algorithm, e.State)
}

// GoString keeps %#v from printing the material.
func (e *EncryptionKey) GoString() string { return e.String() }

// Format makes every verb (%v, %+v, %s, %#v) print String.
func (e *EncryptionKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(e.String())) }

// Marshal validates f and encodes it, indented, for the operator to write into the Secret.
func Marshal(f *File) ([]byte, error) {
	if _, err := f.Validate(); err != nil {
		return nil, err
	}
	return json.MarshalIndent(f, "", "  ")
}
