// Package fieldcrypt encrypts confidential fields (absence reasons, MFA secrets) before they reach
// PostgreSQL.
//
// A field is sealed with AES-256-GCM under the keyring's active encryption key, with a fresh
// random 96-bit nonce. The ciphertext names the key that sealed it, so data written before a
// rotation still opens with the (now decrypt-only) older key, and Rewrap moves it to the active
// key. The associated data binds the ciphertext to where it is stored (table, column, row id) and
// to its key id: a value copied into another row or column, or relabelled with another key, fails
// to open instead of decrypting in the wrong place. What it cannot stop is someone with write
// access to the database putting back an older value of the same field in the same row; auditing
// changes (the hash-chained audit log) is what detects that.
//
// Format, stored as text: "rsf1." + base64url(len(kid) | kid | nonce | sealed).
package fieldcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/rsched/rsched/internal/keyring"
)

const (
	prefix    = "rsf1."
	nonceSize = 12
	tagSize   = 16
	// MaxPlaintext bounds one field; confidential fields are short texts.
	MaxPlaintext = 64 << 10
)

// ErrDecrypt is returned for every ciphertext that does not open: tampered, moved, truncated,
// sealed with an unknown or retired key. The cause is not told apart on purpose.
var ErrDecrypt = errors.New("crypto: field cannot be decrypted")

// Binding says where a field is stored. All three parts are required.
type Binding struct {
	Table, Column, Row string
}

func (b Binding) validate() error {
	if b.Table == "" || b.Column == "" || b.Row == "" {
		return errors.New("crypto: a field binding needs table, column and row")
	}
	return nil
}

// additionalData encodes the binding and kid with length prefixes, so that no two different
// (table, column, row, kid) tuples produce the same bytes.
func additionalData(b Binding, kid string) []byte {
	var out []byte
	out = append(out, "rsched field v1"...)
	for _, part := range []string{b.Table, b.Column, b.Row, kid} {
		out = binary.BigEndian.AppendUint32(out, uint32(len(part)))
		out = append(out, part...)
	}
	return out
}

// Fields seals and opens confidential fields with the keys of a keyring.
type Fields struct {
	keys keyring.Source
}

// NewFields returns a Fields using the encryption keys of keys.
func NewFields(keys keyring.Source) *Fields { return &Fields{keys: keys} }

func aead(key *keyring.EncryptionKey) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key.Key())
	if err != nil {
		return nil, fmt.Errorf("crypto: key %s: %w", key.KID, err)
	}
	return cipher.NewGCM(block)
}

// Encrypt seals plaintext for the place b with the active encryption key.
func (f *Fields) Encrypt(plaintext []byte, b Binding) (string, error) {
	return f.seal(f.keys.Current().ActiveEncryptionKey(), plaintext, b)
}

func (f *Fields) seal(key *keyring.EncryptionKey, plaintext []byte, b Binding) (string, error) {
	if err := b.validate(); err != nil {
		return "", err
	}
	if len(plaintext) > MaxPlaintext {
		return "", fmt.Errorf("crypto: field of %d bytes is larger than %d", len(plaintext), MaxPlaintext)
	}
	g, err := aead(key)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 0, 1+len(key.KID)+nonceSize+len(plaintext)+tagSize)
	buf = append(buf, byte(len(key.KID)))
	buf = append(buf, key.KID...)
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	buf = append(buf, nonce...)
	buf = g.Seal(buf, nonce, plaintext, additionalData(b, key.KID))
	return prefix + base64.RawURLEncoding.EncodeToString(buf), nil
}

var kidShape = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// parse splits a ciphertext into its key id, nonce and sealed bytes.
func parse(ciphertext string) (kid string, nonce, sealed []byte, err error) {
	body, ok := strings.CutPrefix(ciphertext, prefix)
	if !ok || len(body) > (MaxPlaintext+512)*4/3 {
		return "", nil, nil, ErrDecrypt
	}
	// Strict: one ciphertext has one spelling (no non-zero padding bits).
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(raw) < 1 {
		return "", nil, nil, ErrDecrypt
	}
	n := int(raw[0])
	if n == 0 || n > 64 || len(raw) < 1+n+nonceSize+tagSize {
		return "", nil, nil, ErrDecrypt
	}
	kid = string(raw[1 : 1+n])
	// Only kid-shaped ids get out (into logs, metrics, rewrap bookkeeping).
	if !kidShape.MatchString(kid) {
		return "", nil, nil, ErrDecrypt
	}
	return kid, raw[1+n : 1+n+nonceSize], raw[1+n+nonceSize:], nil
}

// KeyID names the key that sealed ciphertext, for rewrap bookkeeping.
func KeyID(ciphertext string) (string, error) {
	kid, _, _, err := parse(ciphertext)
	return kid, err
}

// Decrypt opens a ciphertext stored at b, with whichever retained key sealed it.
func (f *Fields) Decrypt(ciphertext string, b Binding) ([]byte, error) {
	return open(f.keys.Current(), ciphertext, b)
}

func open(kr *keyring.Keyring, ciphertext string, b Binding) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	kid, nonce, sealed, err := parse(ciphertext)
	if err != nil {
		return nil, err
	}
	key, err := kr.DecryptionKey(kid)
	if err != nil {
		return nil, ErrDecrypt
	}
	g, err := aead(key)
	if err != nil {
		return nil, err
	}
	plain, err := g.Open(nil, nonce, sealed, additionalData(b, kid))
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// Rewrap re-seals ciphertext with the active key if another key sealed it. It reports whether
// the value changed; an unchanged value need not be written back.
func (f *Fields) Rewrap(ciphertext string, b Binding) (string, bool, error) {
	kr := f.keys.Current()
	active := kr.ActiveEncryptionKey()
	kid, err := KeyID(ciphertext)
	if err != nil {
		return "", false, err
	}
	// Open it even when it is current: a rewrap job must report a corrupted or misplaced value,
	// not count it as done.
	plain, err := open(kr, ciphertext, b) // the same keyring throughout, even across a reload
	if err != nil {
		return "", false, err
	}
	if kid == active.KID {
		clear(plain)
		return ciphertext, false, nil
	}
	out, err := f.seal(active, plain, b)
	clear(plain)
	if err != nil {
		return "", false, err
	}
	return out, true, nil
}
