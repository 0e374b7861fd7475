package main

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Signer signs a release with cosign and a key pair of the release environment: the private
// key o.CosignKey (encrypted with COSIGN_PASSWORD) or, when there is none, a pair generated for
// this release whose private key is deleted with the work directory. cosign.pub is published.
type Signer struct {
	cosign, key string
}

// newSigner prepares the key and writes cosign.pub.
func newSigner(o Options, work string) (*Signer, error) {
	s := &Signer{cosign: o.Cosign, key: o.CosignKey}
	if s.key == "" {
		prefix := filepath.Join(work, "cosign")
		if _, err := s.run("generate-key-pair", "--output-key-prefix", prefix); err != nil {
			return nil, err
		}
		s.key = prefix + ".key"
	}
	pub, err := s.run("public-key", "--key", s.key)
	if err != nil {
		return nil, err
	}
	return s, os.WriteFile(filepath.Join(o.Out, "cosign.pub"), pub, 0o644)
}

func (s *Signer) run(args ...string) ([]byte, error) {
	return run(s.cosign, args...)
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
		steps := [][]string{
			// The signed payload names the published repository, not the throwaway registry.
			{"sign", "--key", s.key, "--tlog-upload=false", "--yes", "--allow-http-registry", "--sign-container-identity", Repositories[n], ref},
			{"attest", "--key", s.key, "--type", "cyclonedx", "--predicate", filepath.Join(o.Out, n+".cdx.json"),
				"--tlog-upload=false", "--yes", "--allow-http-registry", ref},
			{"verify", "--key", pub, "--insecure-ignore-tlog", "--allow-http-registry", ref},
			{"verify-attestation", "--key", pub, "--type", "cyclonedx", "--insecure-ignore-tlog", "--allow-http-registry", ref},
			{"save", "--dir", filepath.Join(o.Out, "signed", n), "--allow-http-registry", ref},
		}
		for _, a := range steps {
			if _, err := s.run(a...); err != nil {
				return err
			}
		}
	}
	return nil
}

// signBlob writes <file>.sig, cosign's signature of the file (cosign verify-blob checks it).
func (s *Signer) signBlob(file string) error {
	_, err := s.run("sign-blob", "--key", s.key, "--tlog-upload=false", "--yes", "--output-signature", file+".sig", file)
	return err
}
