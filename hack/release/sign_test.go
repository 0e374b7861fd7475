package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// cosignRun runs cosign in dir.
func cosignRun(cosign, dir string, args ...string) (string, error) {
	cmd := exec.Command(cosign, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkSignatures verifies, offline with cosign.pub, each image's signature and its SBOM
// attestation in signed/<name>/ (the attested SBOM equal to <name>.cdx.json, the subject the
// layout's digest) and the signatures of the chart and SHA256SUMS; a changed chart, and another
// key, fail verification.
func checkSignatures(t *testing.T, cosign, dir string, digests map[string]string) {
	t.Helper()
	for _, n := range []string{"manager", "scheduler"} {
		out, err := cosignRun(cosign, dir, "verify", "--key", "cosign.pub", "--insecure-ignore-tlog", "--local-image", "signed/"+n)
		if err != nil || !strings.Contains(out, `"docker-manifest-digest":"`+digests[n]+`"`) || !strings.Contains(out, `"docker-reference":"`+Repositories[n]+`"`) {
			t.Fatalf("cosign verify %s: %v\n%s", n, err, out)
		}
		out, err = cosignRun(cosign, dir, "verify-attestation", "--key", "cosign.pub", "--type", "cyclonedx", "--insecure-ignore-tlog", "--local-image", "signed/"+n)
		if err != nil {
			t.Fatalf("cosign verify-attestation %s: %v\n%s", n, err, out)
		}
		checkAttestedSBOM(t, n, out, filepath.Join(dir, n+".cdx.json"), digests[n])
	}
	checkLoad(t, cosign, dir, digests)
	chart := "rsched-operator-0.1.0.tgz"
	for _, f := range []string{chart, "SHA256SUMS"} {
		if out, err := cosignRun(cosign, dir, "verify-blob", "--key", "cosign.pub", "--insecure-ignore-tlog", "--signature", f+".sig", f); err != nil {
			t.Fatalf("cosign verify-blob %s: %v\n%s", f, err, out)
		}
	}
	// A changed chart fails its signature.
	tampered := filepath.Join(t.TempDir(), chart)
	b := []byte(readFile(t, dir, chart))
	b[len(b)/2] ^= 1
	if err := os.WriteFile(tampered, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cosignRun(cosign, dir, "verify-blob", "--key", "cosign.pub", "--insecure-ignore-tlog", "--signature", chart+".sig", tampered); err == nil || !strings.Contains(out, "invalid signature") {
		t.Fatalf("cosign verify-blob did not refuse a changed chart:\n%s", out)
	}
	// Another key verifies nothing.
	other := t.TempDir()
	if out, err := cosignRun(cosign, other, "generate-key-pair"); err != nil { // COSIGN_PASSWORD set by the caller
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	if out, err := cosignRun(cosign, dir, "verify", "--key", filepath.Join(other, "cosign.pub"), "--insecure-ignore-tlog", "--local-image", "signed/manager"); err == nil || !strings.Contains(out, "no matching signatures") {
		t.Fatalf("cosign verify did not refuse another key:\n%s", out)
	}
}

// checkAttestedSBOM: the DSSE envelope's in-toto statement is about the image's digest and its
// predicate is the release's SBOM.
func checkAttestedSBOM(t *testing.T, name, out, sbomFile, digest string) {
	t.Helper()
	var env struct{ Payload string }
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), &env) == nil && env.Payload != "" {
			break
		}
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatalf("%s: no attestation envelope in:\n%s", name, out)
	}
	var st struct {
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate any `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	var sbom any
	if err := json.Unmarshal([]byte(readFile(t, filepath.Dir(sbomFile), filepath.Base(sbomFile))), &sbom); err != nil {
		t.Fatal(err)
	}
	if st.PredicateType != "https://cyclonedx.org/bom" || len(st.Subject) != 1 || "sha256:"+st.Subject[0].Digest["sha256"] != digest {
		t.Fatalf("%s: attestation %s about %+v, want the CycloneDX SBOM of %s", name, st.PredicateType, st.Subject, digest)
	}
	if !reflect.DeepEqual(st.Predicate, sbom) {
		t.Fatalf("%s: the attested SBOM is not %s", name, filepath.Base(sbomFile))
	}
}

// checkLoad pushes signed/<name>/ with cosign load (docs/release.md's publishing step) into a
// throwaway registry and verifies the signature and the attestation there.
func checkLoad(t *testing.T, cosign, dir string, digests map[string]string) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, n := range []string{"manager", "scheduler"} {
		repo := host + "/rsched/" + n
		steps := [][]string{
			{"load", "--dir", "signed/" + n, "--allow-http-registry", repo},
			{"verify", "--key", "cosign.pub", "--insecure-ignore-tlog", "--allow-http-registry", repo + "@" + digests[n]},
			{"verify-attestation", "--key", "cosign.pub", "--type", "cyclonedx", "--insecure-ignore-tlog", "--allow-http-registry", repo + "@" + digests[n]},
		}
		for _, a := range steps {
			if out, err := cosignRun(cosign, dir, a...); err != nil {
				t.Fatalf("cosign %s %s: %v\n%s", a[0], n, err, out)
			}
		}
	}
}
