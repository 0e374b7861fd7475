package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Helm provenance: <chart>.tgz.prov is what `helm package --sign` writes and `helm verify`,
// `helm install --verify` and `helm pull --verify` check against an OpenPGP keyring: the chart's
// Chart.yaml, then "...", then `files: {<chart>.tgz: sha256:<hex>}`, clearsigned. hack/release
// writes it itself, in that format, because helm package stamps the time of packaging into the
// archive and the release rewrites those times afterwards (Retime, for reproducible bytes): a
// provenance file helm signed would name the archive before that rewrite. The release checks the
// file with the real `helm verify` before it is written.

// KeyringName is the release's copy of the chart-signing public key (a binary OpenPGP keyring,
// what helm verify --keyring reads): a convenience like cosign.pub, not a trust anchor.
const KeyringName = "helm-keyring.gpg"

// pgpConfig is helm's (pkg/provenance): SHA-512 signatures.
var pgpConfig = packet.Config{DefaultHash: crypto.SHA512}

// ephemeralChartKeyName is the identity of the throwaway chart key of an -ephemeral-key release
// (OpenPGP's "name (comment)": helm verify prints it as the signer).
const ephemeralChartKeyName = "rsched release dry run (UNTRUSTED ephemeral key)"

// chartKey is the OpenPGP key that signs the chart's provenance: with o.EphemeralKey one made for
// this run, else the key named o.HelmKey in the keyring o.HelmKeyring, chosen as helm package
// --sign --key chooses (the identity equal to the name, else the only one containing it) and
// decrypted with the first line of o.HelmPassphraseFile when it is encrypted.
func chartKey(o Options) (*openpgp.Entity, error) {
	if o.EphemeralKey {
		name, comment, _ := strings.Cut(strings.TrimSuffix(ephemeralChartKeyName, ")"), " (")
		return openpgp.NewEntity(name, comment, "", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	}
	f, err := os.Open(o.HelmKeyring)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	ring, err := openpgp.ReadKeyRing(f)
	if err != nil {
		return nil, fmt.Errorf("reading the keyring %s: %w", o.HelmKeyring, err)
	}
	e, err := pickKey(ring, o.HelmKey)
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", o.HelmKeyring, err)
	}
	if e.PrivateKey.Encrypted {
		if o.HelmPassphraseFile == "" {
			return nil, fmt.Errorf("the key %q is encrypted: give its passphrase file (-helm-passphrase-file, HELM_SIGN_PASSPHRASE_FILE)", o.HelmKey)
		}
		pf, err := os.Open(o.HelmPassphraseFile)
		if err != nil {
			return nil, err
		}
		defer func() { _ = pf.Close() }()
		line, _, err := bufio.NewReader(pf).ReadLine()
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase file: %w", err)
		}
		if err := e.PrivateKey.Decrypt(line); err != nil { // the error names no secret
			return nil, fmt.Errorf("decrypting the key %q: %w", o.HelmKey, err)
		}
	}
	return e, nil
}

// pickKey is the entity of ring named name, as helm's provenance.NewFromKeyring finds it (an
// identity equal to name wins; else exactly one key with an identity containing it), with its
// private key.
func pickKey(ring openpgp.EntityList, name string) (*openpgp.Entity, error) {
	var exact, contains []*openpgp.Entity
	for _, e := range ring {
		for id := range e.Identities {
			switch {
			case id == name:
				exact = append(exact, e)
			case strings.Contains(id, name) && !slices.Contains(contains, e):
				contains = append(contains, e)
			}
		}
	}
	found := exact
	if len(found) == 0 {
		found = contains
	}
	switch {
	case name == "" || len(found) == 0:
		return nil, fmt.Errorf("no key named %q", name)
	case len(found) > 1:
		return nil, fmt.Errorf("more than one key is named %q", name)
	case found[0].PrivateKey == nil:
		return nil, fmt.Errorf("the key %q has no private key here: give the secret keyring", name)
	}
	return found[0], nil
}

// signChart writes <tgz>.prov, signed with o's chart key, and KeyringName (its public key) into
// o.Out, then checks the pair with helm verify.
func signChart(o Options, tgz string) error {
	e, err := chartKey(o)
	if err != nil {
		return err
	}
	prov, err := provenance(tgz, e)
	if err != nil {
		return err
	}
	if err := os.WriteFile(tgz+".prov", prov, 0o644); err != nil {
		return err
	}
	var pub bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		return err
	}
	keyring := filepath.Join(o.Out, KeyringName)
	if err := os.WriteFile(keyring, pub.Bytes(), 0o644); err != nil {
		return err
	}
	_, err = run(o.Helm, "verify", "--keyring", keyring, tgz)
	return err
}

// provenance is the clearsigned message block of helm's pkg/provenance for the archive tgz.
func provenance(tgz string, e *openpgp.Entity) ([]byte, error) {
	archive, err := os.ReadFile(tgz)
	if err != nil {
		return nil, err
	}
	chartYAML, err := chartfile(archive)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(archive)
	// helm writes yaml.Marshal of the chart's metadata, which is what helm package put in the
	// archive's Chart.yaml; "..." ends that YAML document ("---" is not allowed in a clearsigned
	// block).
	block := fmt.Sprintf("%s\n...\nfiles:\n  %s: sha256:%s\n", chartYAML, filepath.Base(tgz), hex.EncodeToString(sum[:]))
	var out bytes.Buffer
	w, err := clearsign.Encode(&out, e.PrivateKey, &pgpConfig)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, block); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// chartfile is <chart>/Chart.yaml of a chart archive.
func chartfile(archive []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no Chart.yaml in the chart archive")
		}
		if err != nil {
			return nil, err
		}
		if dir, name := filepath.Split(h.Name); name == "Chart.yaml" && strings.Count(dir, "/") == 1 {
			return io.ReadAll(tr)
		}
	}
}
