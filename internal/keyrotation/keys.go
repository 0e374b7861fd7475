package keyrotation

import (
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/keyring"
)

// A rotation happens in two phases so that no replica ever meets a token signed with a key it does
// not know: Stage publishes the next version of every key (staged keys verify and decrypt but do
// not sign or encrypt); once every replica has loaded it, Activate makes it active and demotes the
// previous versions. Both are pure: the previous keyring in, the next one out.

// KID is the key id of version v of the policy key name ("jwt" v7 → "jwt-7").
func KID(name string, version int64) string { return name + "-" + strconv.FormatInt(version, 10) }

// material returns fresh key material for an algorithm, from crypto/rand, at full length: the
// HMAC secret as long as the hash (32 or 64 bytes), the 32-byte Ed25519 seed, the AES-256 key.
func material(alg rschedv1.KeyAlgorithm) ([]byte, error) {
	var n int
	switch alg {
	case rschedv1.AlgorithmHS256, rschedv1.AlgorithmAES256GCM:
		n = 32
	case rschedv1.AlgorithmHS512:
		n = 64
	case rschedv1.AlgorithmEdDSA:
		n = ed25519.SeedSize
	default:
		return nil, fmt.Errorf("rotation: unknown algorithm %q", alg)
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}

// Two numbers count changes. The key version is the rotation counter: the number in the key ids
// ("jwt-7"), the same for every key a rotation creates, and the KeyRotationPolicy's
// status.currentVersion. The file's Version counts every change of the file (stage, activate,
// retire): the server refuses a changed file that keeps its version, so that a stale copy can
// never replace a newer one.

// KeyVersion is the key version of a keyring: the highest version in its key ids.
func KeyVersion(f *keyring.File) int64 {
	var v int64
	for _, k := range slices.Concat(f.Signing, f.Encryption) {
		v = max(v, kidVersion(k.KID))
	}
	return v
}

// Stage returns prev with key version KeyVersion(prev)+1 of every key in keys added as staged. With no
// previous keyring the first version is active at once (there is nothing to stay compatible
// with). The result is validated.
func Stage(prev *keyring.File, keys []rschedv1.RotatedKey, now time.Time) (*keyring.File, error) {
	now = now.UTC().Truncate(time.Second)
	next := &keyring.File{Format: keyring.FormatVersion, Version: 1}
	state := keyring.Active
	keyVersion := int64(1)
	if prev != nil {
		next = clone(prev)
		next.Version = prev.Version + 1
		state = keyring.Staged
		keyVersion = KeyVersion(prev) + 1
	}
	for _, k := range keys {
		m, err := material(k.Algorithm)
		if err != nil {
			return nil, err
		}
		fk := keyring.FileKey{KID: KID(k.Name, keyVersion), Algorithm: string(k.Algorithm), State: state, CreatedAt: now, Key: m}
		if k.Purpose == rschedv1.KeyPurposeEncryption {
			next.Encryption = append(next.Encryption, fk)
		} else {
			next.Signing = append(next.Signing, fk)
		}
	}
	if _, err := next.Validate(); err != nil {
		return nil, fmt.Errorf("rotation: staged keyring is invalid: %w", err)
	}
	return next, nil
}

// Retention says how long replaced versions stay usable.
type Retention struct {
	// Grace keeps a replaced signing key verifying this long (spec.gracePeriod).
	Grace time.Duration
	// Retain is how many replaced encryption versions per key stay decrypt-only (spec.retain).
	Retain int
	// Drained reports whether no data is left under an encryption kid (the server's rewrap
	// status); nil means it cannot be known, and versions are then never dropped below Retain
	// nor above it: they are kept.
	Drained func(kid string) bool
}

// Activate makes the staged versions active and demotes what they replace: the previous active
// signing key becomes verify-only until now+Grace, the previous active encryption key
// decrypt-only. It also applies retention: verify-only keys past their time are retired (their
// material dropped), and decrypt-only versions beyond Retain are retired once Drained says so.
func Activate(prev *keyring.File, now time.Time, r Retention) (*keyring.File, error) {
	now = now.UTC().Truncate(time.Second)
	next := clone(prev)
	next.Version = prev.Version + 1
	promote := func(list []keyring.FileKey, demoted keyring.State, notAfter *time.Time) {
		staged := slices.ContainsFunc(list, func(k keyring.FileKey) bool { return k.State == keyring.Staged })
		for i := range list {
			switch {
			case list[i].State == keyring.Staged:
				list[i].State = keyring.Active
			case list[i].State == keyring.Active && staged:
				list[i].State = demoted
				list[i].NotAfter = notAfter
			}
		}
	}
	until := now.Add(r.Grace)
	promote(next.Signing, keyring.VerifyOnly, &until)
	promote(next.Encryption, keyring.DecryptOnly, nil)
	retire(next, now, r)
	if _, err := next.Validate(); err != nil {
		return nil, fmt.Errorf("rotation: activated keyring is invalid: %w", err)
	}
	return next, nil
}

// Retire applies retention without a rotation (the reconciler calls it when a grace period ends).
func Retire(prev *keyring.File, now time.Time, r Retention) (*keyring.File, bool, error) {
	next := clone(prev)
	changed := retire(next, now.UTC().Truncate(time.Second), r)
	if !changed {
		return prev, false, nil
	}
	next.Version = prev.Version + 1
	if _, err := next.Validate(); err != nil {
		return nil, false, err
	}
	return next, true, nil
}

// retire retires expired verify-only keys and surplus drained decrypt-only ones; it reports
// whether anything changed.
func retire(f *keyring.File, now time.Time, r Retention) bool {
	changed := false
	for i := range f.Signing {
		k := &f.Signing[i]
		if k.State == keyring.VerifyOnly && k.NotAfter != nil && !now.Before(*k.NotAfter) {
			k.State, k.Key, k.NotAfter = keyring.Retired, nil, nil
			changed = true
		}
	}
	// Per key name, newest first: the first Retain decrypt-only versions stay.
	seen := map[string]int{}
	order := make([]int, len(f.Encryption))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return newestFirst(f.Encryption[a], f.Encryption[b]) })
	for _, i := range order {
		k := &f.Encryption[i]
		if k.State != keyring.DecryptOnly {
			continue
		}
		name := baseName(k.KID)
		seen[name]++
		if seen[name] > r.Retain && r.Drained != nil && r.Drained(k.KID) {
			k.State, k.Key = keyring.Retired, nil
			changed = true
		}
	}
	if pruneRetired(f) {
		changed = true
	}
	return changed
}

// keepRetired is how many retired versions per key stay listed in the keyring (without their
// material) as a record; older ones are removed so the file does not grow without bound.
const keepRetired = 3

func pruneRetired(f *keyring.File) bool {
	prune := func(list []keyring.FileKey) []keyring.FileKey {
		order := slices.Clone(list)
		slices.SortStableFunc(order, newestFirst)
		seen := map[string]int{}
		drop := map[string]bool{}
		for _, k := range order {
			if k.State == keyring.Retired {
				name := baseName(k.KID)
				seen[name]++
				if seen[name] > keepRetired {
					drop[k.KID] = true
				}
			}
		}
		return slices.DeleteFunc(list, func(k keyring.FileKey) bool { return drop[k.KID] })
	}
	ns, ne := len(f.Signing), len(f.Encryption)
	f.Signing, f.Encryption = prune(f.Signing), prune(f.Encryption)
	return len(f.Signing) != ns || len(f.Encryption) != ne
}

// newestFirst orders versions of keys by their version number (the kid's suffix), newest first;
// creation times can be equal (two rotations within a second) and clocks can step back.
func newestFirst(a, b keyring.FileKey) int {
	if c := cmp.Compare(kidVersion(b.KID), kidVersion(a.KID)); c != 0 {
		return c
	}
	return b.CreatedAt.Compare(a.CreatedAt)
}

func kidVersion(kid string) int64 {
	i := strings.LastIndexByte(kid, '-')
	if i < 0 {
		return 0
	}
	v, _ := strconv.ParseInt(kid[i+1:], 10, 64)
	return v
}

func baseName(kid string) string {
	if i := strings.LastIndexByte(kid, '-'); i > 0 {
		return kid[:i]
	}
	return kid
}

func clone(f *keyring.File) *keyring.File {
	out := *f
	out.Signing = slices.Clone(f.Signing)
	out.Encryption = slices.Clone(f.Encryption)
	return &out
}
