package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/google/go-containerregistry/pkg/registry"
)

// cosignRun runs cosign in dir.
func cosignRun(cosign, dir string, args ...string) (string, error) {
	cmd := exec.Command(cosign, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkSignatures verifies, offline with pub (the project's public key, obtained apart from the
// release, as docs/release.md tells users to), each image's signature and its SBOM attestation in
// signed/<name>/ (the attested SBOM equal to <name>.cdx.json, the subject the layout's digest) and
// the signatures of the chart and SHA256SUMS; a changed chart, and another key, fail verification.
// The release's own cosign.pub is a copy of pub, and the release carries no untrusted-key note.
func checkSignatures(t *testing.T, cosign, dir, pub string, digests map[string]string) {
	t.Helper()
	if readFile(t, dir, "cosign.pub") != readFile(t, filepath.Dir(pub), filepath.Base(pub)) {
		t.Fatalf("the release's cosign.pub is not the signing key's public key %s", pub)
	}
	if _, err := os.Stat(filepath.Join(dir, "UNTRUSTED-EPHEMERAL-KEY")); !os.IsNotExist(err) {
		t.Fatalf("a release signed with -cosign-key has UNTRUSTED-EPHEMERAL-KEY (%v)", err)
	}
	for _, n := range []string{"manager", "scheduler"} {
		out, err := cosignRun(cosign, dir, "verify", "--key", pub, "--insecure-ignore-tlog", "--local-image", "signed/"+n)
		if err != nil || !strings.Contains(out, `"docker-manifest-digest":"`+digests[n]+`"`) || !strings.Contains(out, `"docker-reference":"`+Repositories[n]+`"`) {
			t.Fatalf("cosign verify %s: %v\n%s", n, err, out)
		}
		out, err = cosignRun(cosign, dir, "verify-attestation", "--key", pub, "--type", "cyclonedx", "--insecure-ignore-tlog", "--local-image", "signed/"+n)
		if err != nil {
			t.Fatalf("cosign verify-attestation %s: %v\n%s", n, err, out)
		}
		checkAttestedSBOM(t, n, out, filepath.Join(dir, n+".cdx.json"), digests[n])
	}
	checkLoad(t, cosign, dir, pub, digests)
	chart := "rsched-operator-0.1.0.tgz"
	for _, f := range []string{chart, "SHA256SUMS"} {
		if out, err := cosignRun(cosign, dir, "verify-blob", "--key", pub, "--insecure-ignore-tlog", "--signature", f+".sig", f); err != nil {
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
	if out, err := cosignRun(cosign, dir, "verify-blob", "--key", pub, "--insecure-ignore-tlog", "--signature", chart+".sig", tampered); err == nil || !strings.Contains(out, "invalid signature") {
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
// throwaway registry and verifies the signature and the attestation there with pub.
func checkLoad(t *testing.T, cosign, dir, pub string, digests map[string]string) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, n := range []string{"manager", "scheduler"} {
		repo := host + "/rsched/" + n
		steps := [][]string{
			{"load", "--dir", "signed/" + n, "--allow-http-registry", repo},
			{"verify", "--key", pub, "--insecure-ignore-tlog", "--allow-http-registry", repo + "@" + digests[n]},
			{"verify-attestation", "--key", pub, "--type", "cyclonedx", "--insecure-ignore-tlog", "--allow-http-registry", repo + "@" + digests[n]},
		}
		for _, a := range steps {
			if out, err := cosignRun(cosign, dir, a...); err != nil {
				t.Fatalf("cosign %s %s: %v\n%s", a[0], n, err, out)
			}
		}
	}
}

// A signed release takes the project's long-lived key, or -ephemeral-key said out loud: a pair
// generated for the release proves nothing about who made it.
func TestSignedReleaseNeedsALongLivedKey(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000") // complete() needs no git
	for _, c := range []struct {
		name     string
		o        Options
		password bool
		want     string // in the error; "" for none
	}{
		{"no key", Options{Cosign: "cosign"}, true, "-cosign needs -cosign-key (make release COSIGN_KEY=...): the project's long-lived signing key"},
		{"key file", Options{Cosign: "cosign", CosignKey: "cosign.key", HelmKeyring: "secring.gpg", HelmKey: "rsched"}, true, ""},
		{"key file without its password", Options{Cosign: "cosign", CosignKey: "cosign.key", HelmKeyring: "secring.gpg", HelmKey: "rsched"}, false, "COSIGN_PASSWORD is not set"},
		{"KMS key, no password", Options{Cosign: "cosign", CosignKey: "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", Tlog: true,
			HelmKeyring: "secring.gpg", HelmKey: "rsched", HelmPassphraseFile: "pass"}, false, ""},
		{"no chart key", Options{Cosign: "cosign", CosignKey: "cosign.key"}, true, "-cosign-key needs -helm-keyring and -helm-key"},
		{"chart keyring without a key name", Options{Cosign: "cosign", CosignKey: "cosign.key", HelmKeyring: "secring.gpg"}, true, "-cosign-key needs -helm-keyring and -helm-key"},
		{"ephemeral with a chart key", Options{Cosign: "cosign", EphemeralKey: true, HelmKeyring: "secring.gpg", HelmKey: "rsched"}, true, "excludes -helm-keyring"},
		{"chart key unsigned", Options{HelmKeyring: "secring.gpg", HelmKey: "rsched"}, true, "need -cosign"},
		{"ephemeral, no password", Options{Cosign: "cosign", EphemeralKey: true}, false, ""},
		{"key and ephemeral", Options{Cosign: "cosign", CosignKey: "cosign.key", EphemeralKey: true}, true, "exclude each other"},
		{"ephemeral in the public log", Options{Cosign: "cosign", EphemeralKey: true, Tlog: true}, true, "throwaway key's signatures in the public transparency log"},
		{"ephemeral unsigned", Options{EphemeralKey: true}, true, "need -cosign"},
		{"unsigned", Options{}, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.password {
				t.Setenv("COSIGN_PASSWORD", "p")
			} else {
				t.Setenv("COSIGN_PASSWORD", "")
				_ = os.Unsetenv("COSIGN_PASSWORD")
			}
			o := c.o
			o.Out, o.Version, o.Commit, o.Cyclonedx, o.Kubectl, o.Helm = "out", "v0.1.0", "abc", "c", "k", "h"
			err := o.complete()
			if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
				t.Fatalf("complete() = %v, want %q", err, c.want)
			}
			if c.want == "" && !o.Epoch.Equal(time.Unix(1700000000, 0)) {
				t.Fatalf("epoch %v", o.Epoch)
			}
		})
	}
}

// -tlog turns the transparency log on in cosign's arguments: signatures are uploaded to Rekor and
// verification checks the log (no --insecure-ignore-tlog), and blobs get a .bundle with the log's
// entry. Only the arguments are tested: offline there is no Rekor to upload to.
func TestTlogFlagChangesCosignArguments(t *testing.T) {
	ref, pub, sbom, dir := "127.0.0.1:5000/rsched/manager@sha256:d", "out/cosign.pub", "out/manager.cdx.json", "out/signed/manager"
	for _, c := range []struct {
		tlog       bool
		sign, verf []string
		blob       []string
	}{
		{false, []string{"--tlog-upload=false"}, []string{"--insecure-ignore-tlog"},
			[]string{"sign-blob", "--key", "K", "--tlog-upload=false", "--yes", "--output-signature", "f.sig", "f"}},
		{true, []string{"--tlog-upload=true"}, nil,
			[]string{"sign-blob", "--key", "K", "--tlog-upload=true", "--yes", "--output-signature", "f.sig", "--bundle", "f.bundle", "f"}},
	} {
		s := &Signer{key: "K", tlog: c.tlog}
		want := [][]string{
			slices.Concat([]string{"sign", "--key", "K"}, c.sign, []string{"--yes", "--allow-http-registry", "--sign-container-identity", "ghcr.io/rsched/rsched", ref}),
			slices.Concat([]string{"attest", "--key", "K", "--type", "cyclonedx", "--predicate", sbom}, c.sign, []string{"--yes", "--allow-http-registry", ref}),
			slices.Concat([]string{"verify", "--key", pub}, c.verf, []string{"--allow-http-registry", ref}),
			slices.Concat([]string{"verify-attestation", "--key", pub, "--type", "cyclonedx"}, c.verf, []string{"--allow-http-registry", ref}),
			{"save", "--dir", dir, "--allow-http-registry", ref},
		}
		if got := s.imageArgs("manager", ref, pub, sbom, dir); !reflect.DeepEqual(got, want) {
			t.Errorf("tlog %v: image arguments\n%q\nwant\n%q", c.tlog, got, want)
		}
		if got := s.blobArgs("f"); !reflect.DeepEqual(got, c.blob) {
			t.Errorf("tlog %v: blob arguments %q, want %q", c.tlog, got, c.blob)
		}
	}
}

// An -ephemeral-key release (tests and dry runs) signs with a pair of its own, with a password of
// its own (none in the environment), and says in UNTRUSTED-EPHEMERAL-KEY and at the top of
// SHA256SUMS that its signatures prove nothing; sha256sum -c still reads SHA256SUMS and its
// signature verifies with the cosign.pub written beside it. Real cosign, ~1 s.
func TestEphemeralKeyReleaseSaysItIsUntrusted(t *testing.T) {
	cosign := tool(t, "RSCHED_COSIGN_BIN", "hack/get-cosign.sh")
	t.Setenv("COSIGN_PASSWORD", "")
	_ = os.Unsetenv("COSIGN_PASSWORD")
	out, work := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "crds.yaml"), []byte("kind: CustomResourceDefinition\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{Out: out, Cosign: cosign, EphemeralKey: true}
	for _, s := range signSteps(o, work) {
		if s.what == "cosign key" || strings.HasPrefix(s.what, "SHA256SUMS") {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.what, err)
			}
		}
	}
	if note := readFile(t, out, "UNTRUSTED-EPHEMERAL-KEY"); note != ephemeralNote || !strings.HasPrefix(note, "UNTRUSTED: ") {
		t.Fatalf("UNTRUSTED-EPHEMERAL-KEY:\n%s", note)
	}
	sums := readFile(t, out, "SHA256SUMS")
	if !strings.HasPrefix(sums, "# UNTRUSTED: signed with an ephemeral key pair") || !strings.Contains(sums, "  UNTRUSTED-EPHEMERAL-KEY\n") {
		t.Fatalf("SHA256SUMS does not say the key is untrusted:\n%s", sums)
	}
	cmd := exec.Command("sha256sum", "-c", "--strict", "SHA256SUMS")
	cmd.Dir = out
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, b)
	}
	if b, err := cosignRun(cosign, out, "verify-blob", "--key", "cosign.pub", "--insecure-ignore-tlog", "--signature", "SHA256SUMS.sig", "SHA256SUMS"); err != nil {
		t.Fatalf("cosign verify-blob: %v\n%s", err, b)
	}
}

// pgpKey writes an OpenPGP key named name, as gpg --export-secret-keys and --export write them:
// the secret keyring (encrypted with passphrase unless it is empty) and the public keyring.
func pgpKey(t *testing.T, dir, name, passphrase string) (secring, pubring string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", "", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var pub, sec bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	if passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(passphrase), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.SerializePrivateWithoutSigning(&sec, nil); err != nil {
		t.Fatal(err)
	}
	secring, pubring = filepath.Join(dir, "secring.gpg"), filepath.Join(dir, "pubring.gpg")
	for f, b := range map[string][]byte{secring: sec.Bytes(), pubring: pub.Bytes()} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return secring, pubring
}

// fingerprint is the primary key fingerprint of the only key of a binary keyring.
func fingerprint(t *testing.T, keyring string) string {
	t.Helper()
	f, err := os.Open(keyring)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	ring, err := openpgp.ReadKeyRing(f)
	if err != nil || len(ring) != 1 {
		t.Fatalf("%s: %d keys, %v", keyring, len(ring), err)
	}
	return hex.EncodeToString(ring[0].PrimaryKey.Fingerprint)
}

// checkProvenance: helm verify accepts the chart with its .prov against pubring (the project's
// public key, obtained apart from the release) and names the signer; the release's
// helm-keyring.gpg is that key; a chart with one byte flipped, and another key, fail; and the
// signed message is the one helm package --sign writes with the same secret keyring (same
// Chart.yaml block, the archive's sha256).
func checkProvenance(t *testing.T, helm, dir, chartDir string, key chartSigningKey) {
	t.Helper()
	chart := filepath.Join(dir, "rsched-operator-0.1.0.tgz")
	verify := func(keyring, tgz string) (string, error) {
		out, err := exec.Command(helm, "verify", "--keyring", keyring, tgz).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(key.pubring, chart); err != nil || !strings.Contains(out, "Signed by: "+key.name) {
		t.Fatalf("helm verify: %v\n%s", err, out)
	}
	if got, want := fingerprint(t, filepath.Join(dir, KeyringName)), fingerprint(t, key.pubring); got != want {
		t.Fatalf("the release's %s holds key %s, the signing key is %s", KeyringName, got, want)
	}
	tampered := filepath.Join(t.TempDir(), filepath.Base(chart))
	b := []byte(readFile(t, dir, filepath.Base(chart)))
	b[len(b)/2] ^= 1
	if err := os.WriteFile(tampered, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tampered+".prov", []byte(readFile(t, dir, filepath.Base(chart)+".prov")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(key.pubring, tampered); err == nil || !strings.Contains(out, "sha256 sum does not match") {
		t.Fatalf("helm verify passed a changed chart: %v\n%s", err, out)
	}
	_, otherPub := pgpKey(t, t.TempDir(), "someone else", "")
	if out, err := verify(otherPub, chart); err == nil || !strings.Contains(out, "unknown entity") {
		t.Fatalf("helm verify passed with another key: %v\n%s", err, out)
	}
	// helm package --sign with the same keyring: the same message, but for its own archive.
	pkg := t.TempDir()
	out, err := exec.Command(helm, "package", "--sign", "--keyring", key.secring, "--key", key.name,
		"--passphrase-file", key.passphraseFile, "--destination", pkg, chartDir).CombinedOutput()
	if err != nil {
		t.Fatalf("helm package --sign: %v\n%s", err, out)
	}
	ours, helms := provMessage(t, readFile(t, dir, filepath.Base(chart)+".prov")), provMessage(t, readFile(t, pkg, filepath.Base(chart)+".prov"))
	if ours[0] != helms[0] || !strings.HasPrefix(ours[1], "files:\n  rsched-operator-0.1.0.tgz: sha256:") || len(ours[1]) != len(helms[1]) {
		t.Fatalf("the provenance message differs from helm package --sign's:\n%q\n%q", ours, helms)
	}
}

// chartSigningKey is the test's stand-in for the project's long-lived OpenPGP key.
type chartSigningKey struct {
	name, secring, pubring, passphraseFile string
}

// provMessage is the clearsigned text of a provenance file, split at helm's "..." line.
func provMessage(t *testing.T, prov string) [2]string {
	t.Helper()
	blk, _ := clearsign.Decode([]byte(prov))
	if blk == nil {
		t.Fatalf("not a clearsigned message:\n%s", prov)
	}
	meta, files, ok := strings.Cut(string(blk.Plaintext), "\n...\n")
	if !ok {
		t.Fatalf("no ... line in:\n%s", blk.Plaintext)
	}
	return [2]string{meta, files}
}

// An -ephemeral-key release signs the chart's provenance with an OpenPGP key made for the run,
// which helm verify accepts with the helm-keyring.gpg written beside it (the identity says it is
// untrusted). Real helm, ~1 s.
func TestEphemeralChartKeySignsAProvenanceHelmVerifies(t *testing.T) {
	helm := tool(t, "RSCHED_HELM_BIN", "make helm-bin")
	out := t.TempDir()
	if b, err := exec.Command(helm, "package", filepath.Join("..", "..", ChartDir), "--destination", out).CombinedOutput(); err != nil {
		t.Fatalf("helm package: %v\n%s", err, b)
	}
	tgz := filepath.Join(out, "rsched-operator-0.1.0.tgz")
	if err := signChart(Options{Out: out, Helm: helm, EphemeralKey: true}, tgz); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(helm, "verify", "--keyring", filepath.Join(out, KeyringName), tgz).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "Signed by: "+ephemeralChartKeyName) {
		t.Fatalf("helm verify: %v\n%s", err, b)
	}
}
