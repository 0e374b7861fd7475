package keyringtest

import (
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/keyring"
)

// T0 is the creation time of every key built here.
var T0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// Random returns n random bytes.
func Random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// Key is one key version.
type Key struct {
	KID       string
	Algorithm string
	State     keyring.State
	Material  []byte
	NotAfter  time.Time // for verify-only signing keys
}

// Build validates a keyring of version with the given keys. A purpose given no keys gets one
// active key (HS256 "jwt-default" or AES256GCM "fields-default"), since a keyring needs both.
func Build(t testing.TB, version int64, signing, encryption []Key) *keyring.Keyring {
	t.Helper()
	if len(signing) == 0 {
		signing = []Key{{KID: "jwt-default", Algorithm: keyring.HS256, State: keyring.Active, Material: Random(32)}}
	}
	if len(encryption) == 0 {
		encryption = []Key{{KID: "fields-default", Algorithm: keyring.AES256GCM, State: keyring.Active, Material: Random(32)}}
	}
	f := &keyring.File{Format: keyring.FormatVersion, Version: version}
	for _, k := range signing {
		f.Signing = append(f.Signing, fileKey(k))
	}
	for _, k := range encryption {
		f.Encryption = append(f.Encryption, fileKey(k))
	}
	kr, err := f.Validate()
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func fileKey(k Key) keyring.FileKey {
	fk := keyring.FileKey{KID: k.KID, Algorithm: k.Algorithm, State: k.State, CreatedAt: T0, Key: k.Material}
	if !k.NotAfter.IsZero() {
		na := k.NotAfter
		fk.NotAfter = &na
	}
	return fk
}

// Source is a keyring.Source whose keyring a test swaps with Set, as a rotation would.
type Source struct {
	kr atomic.Pointer[keyring.Keyring]
}

// NewSource returns a Source holding kr.
func NewSource(kr *keyring.Keyring) *Source {
	s := &Source{}
	s.Set(kr)
	return s
}

// Current is the keyring in use.
func (s *Source) Current() *keyring.Keyring { return s.kr.Load() }

// Set replaces the keyring in use.
func (s *Source) Set(kr *keyring.Keyring) { s.kr.Store(kr) }
