package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Signer signs a release with cosign and the project's long-lived key o.CosignKey (a KMS URI, or a
// key file COSIGN_PASSWORD decrypts) or, with o.EphemeralKey, a pair generated for this release
// whose private key is deleted with the work directory. cosign.pub is published as a convenience
// only: users verify with the project's key obtained apart from the release (docs/release.md).
type Signer struct {
	cosign, key string
	// tlog uploads to Rekor and verifies there; without it, nothing is logged (offline).
	tlog bool
	// env is added to cosign's environment (the ephemeral pair's password).
	env []string
}

// ephemeralNote is UNTRUSTED-EPHEMERAL-KEY and the header of SHA256SUMS in an -ephemeral-key release.
const ephemeralNote = `UNTRUSTED: signed with an ephemeral key pair generated for this release (hack/release
-ephemeral-key, make release EPHEMERAL_KEY=1), for tests and dry runs only, and its chart's
provenance with an ephemeral OpenPGP key. Their private keys are deleted with the build and
their public keys (cosign.pub, helm-keyring.gpg) came with the release, so these signatures prove
nothing about who made it: anyone who can replace the files can sign them with a new pair.
Do not publish it; a release is signed with the project's long-lived key (docs/release.md).
`

// newSigner prepares the key and writes cosign.pub (and, for an ephemeral pair, the note saying
// the signatures prove nothing).
func newSigner(o Options, work string) (*Signer, error) {
	s := &Signer{cosign: o.Cosign, key: o.CosignKey, tlog: o.Tlog}
	if o.EphemeralKey {
		progress("WARNING: %s", strings.TrimSpace(strings.ReplaceAll(ephemeralNote, "\n", " ")))
		// The pair lives only for this run: a password of its own, not the release environment's.
		s.env = []string{"COSIGN_PASSWORD=" + rand.Text()}
		prefix := filepath.Join(work, "cosign")
		if _, err := s.run("generate-key-pair", "--output-key-prefix", prefix); err != nil {
			return nil, err
		}
		s.key = prefix + ".key"
		if err := os.WriteFile(filepath.Join(o.Out, "UNTRUSTED-EPHEMERAL-KEY"), []byte(ephemeralNote), 0o644); err != nil {
			return nil, err
		}
	}
	pub, err := s.run("public-key", "--key", s.key)
	if err != nil {
		return nil, err
	}
	return s, os.WriteFile(filepath.Join(o.Out, "cosign.pub"), pub, 0o644)
}

func (s *Signer) run(args ...string) ([]byte, error) {
	return runEnv(s.env, s.cosign, args...)
}

// tlogArgs are the flags of signing (upload to Rekor or not) and of verifying (offline, the
// signatures are in no log, so the log is not checked).
func (s *Signer) tlogArgs() (sign, verify []string) {
	if s.tlog {
		return []string{"--tlog-upload=true"}, nil
	}
	return []string{"--tlog-upload=false"}, []string{"--insecure-ignore-tlog"}
}

// imageArgs are the cosign commands for image n at ref in the throwaway registry: sign it, attest
// sbom, verify both with pub, save all three into dir.
func (s *Signer) imageArgs(n, ref, pub, sbom, dir string) [][]string {
	sign, verify := s.tlogArgs()
	return [][]string{
		// The signed payload names the published repository, not the throwaway registry.
		slices.Concat([]string{"sign", "--key", s.key}, sign, []string{"--yes", "--allow-http-registry", "--sign-container-identity", Repositories[n], ref}),
		slices.Concat([]string{"attest", "--key", s.key, "--type", "cyclonedx", "--predicate", sbom}, sign, []string{"--yes", "--allow-http-registry", ref}),
		slices.Concat([]string{"verify", "--key", pub}, verify, []string{"--allow-http-registry", ref}),
		slices.Concat([]string{"verify-attestation", "--key", pub, "--type", "cyclonedx"}, verify, []string{"--allow-http-registry", ref}),
		{"save", "--dir", dir, "--allow-http-registry", ref},
	}
}

// blobArgs signs file into <file>.sig; with the log, also <file>.bundle, which carries the Rekor
// entry so that cosign verify-blob --bundle checks the log's inclusion proof.
func (s *Signer) blobArgs(file string) []string {
	sign, _ := s.tlogArgs()
	args := slices.Concat([]string{"sign-blob", "--key", s.key}, sign, []string{"--yes", "--output-signature", file + ".sig"})
	if s.tlog {
		args = append(args, "--bundle", file+".bundle")
	}
	return append(args, file)
}

// signImages pushes each layout into a registry served in this process (cosign signs registry
// references), signs the image, attaches its SBOM as a signed CycloneDX attestation, verifies
// both with cosign.pub, and saves image, signature and attestation as the OCI layout
// signed/<name>/ (cosign save; cosign verify --local-image reads it, cosign load pushes it).
func (s *Signer) signImages(o Options) error {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	pub := filepath.Join(o.Out, "cosign.pub")
	for _, n := range []string{"manager", "scheduler"} {
		idx, err := layout.ImageIndexFromPath(filepath.Join(o.Out, "images", n))
		if err != nil {
			return err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		img, err := idx.Image(m.Manifests[0].Digest)
		if err != nil {
			return err
		}
		tag, err := name.ParseReference(host + "/rsched/" + n + ":" + o.Version)
		if err != nil {
			return err
		}
		if err := remote.Write(tag, img); err != nil {
			return fmt.Errorf("pushing %s to the local registry: %w", n, err)
		}
		ref := host + "/rsched/" + n + "@" + m.Manifests[0].Digest.String()
		progress("signing %s and attesting its SBOM", n)
		steps := s.imageArgs(n, ref, pub, filepath.Join(o.Out, n+".cdx.json"), filepath.Join(o.Out, "signed", n))
		for _, a := range steps {
			if _, err := s.run(a...); err != nil {
				return err
			}
		}
	}
	return nil
}

// signBlob writes <file>.sig, cosign's signature of the file (cosign verify-blob checks it), and
// with the log <file>.bundle.
func (s *Signer) signBlob(file string) error {
	_, err := s.run(s.blobArgs(file)...)
	return err
}
