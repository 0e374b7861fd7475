// Command release writes the release artefacts of this tree into one directory (make release,
// offline): an OCI image layout per image (manager, scheduler), a CycloneDX SBOM per image from
// the binary it holds, the CRDs, install.yaml (config/default with both images pinned by the
// digests of the layouts), the Helm chart packaged with the same digests, the kubectl plugin's
// tarball and its krew manifest, and SHA256SUMS over every file. Built twice from the same commit
// it writes the same bytes: -trimpath binaries, every timestamp the commit's (SOURCE_DATE_EPOCH),
// entries in a fixed order. See docs/release.md.
//
//	go run ./hack/release -out dist/v0.1.0 -version v0.1.0 -cyclonedx ... -kubectl ... -helm ...
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Repositories are where the images are published, by image name.
var Repositories = map[string]string{
	"manager":   "ghcr.io/rsched/rsched",
	"scheduler": "ghcr.io/rsched/scheduler",
}

// Options are one release's inputs.
type Options struct {
	Out, Version, Commit string
	// Epoch is every timestamp the release records (the commit's time).
	Epoch time.Time
	// Cyclonedx, Kubectl and Helm are the tools' paths.
	Cyclonedx, Kubectl, Helm string
	// Cosign, when set, signs the release (sign.go) with CosignKey, the project's long-lived key
	// (a cosign.key file or a KMS URI), or, with EphemeralKey (tests and dry runs only), a pair
	// generated for the release, whose signatures prove nothing. Tlog uploads the signatures to
	// Rekor (a real pipeline; offline there is none).
	Cosign, CosignKey  string
	EphemeralKey, Tlog bool
	// HelmKeyring and HelmKey are the OpenPGP secret keyring and the name of the key in it that
	// signs the chart's Helm provenance file (helm package --sign --keyring --key), required with
	// CosignKey; HelmPassphraseFile's first line decrypts it. EphemeralKey makes one for the run.
	HelmKeyring, HelmKey, HelmPassphraseFile string
	// Platforms are the kubectl plugin's os/arch pairs (PluginPlatforms unless narrowed).
	Platforms [][2]string
}

func main() {
	var o Options
	flag.StringVar(&o.Out, "out", "", "directory to write (emptied first), e.g. dist/v0.1.0")
	flag.StringVar(&o.Version, "version", "", "the release version, v + semver (image tags, chart appVersion)")
	flag.StringVar(&o.Commit, "commit", "", "the commit stamped into the binaries (default: git rev-parse HEAD)")
	flag.StringVar(&o.Cyclonedx, "cyclonedx", "", "cyclonedx-gomod binary (hack/get-cyclonedx.sh)")
	flag.StringVar(&o.Kubectl, "kubectl", "", "kubectl binary (for kubectl kustomize)")
	flag.StringVar(&o.Helm, "helm", "", "helm binary (make helm-bin)")
	flag.StringVar(&o.Cosign, "cosign", "", "cosign binary (hack/get-cosign.sh); when set, the images, SBOMs, chart and SHA256SUMS are signed")
	flag.StringVar(&o.CosignKey, "cosign-key", "", "the project's long-lived signing key, required with -cosign: a KMS URI (awskms://, gcpkms://, azurekms://, hashivault://) or an encrypted cosign.key (COSIGN_PASSWORD decrypts it)")
	flag.BoolVar(&o.EphemeralKey, "ephemeral-key", false, "sign with a key pair generated for this release instead of -cosign-key: for tests and dry runs only, the signatures prove nothing (the release says so in UNTRUSTED-EPHEMERAL-KEY and SHA256SUMS)")
	flag.StringVar(&o.HelmKeyring, "helm-keyring", "", "OpenPGP secret keyring (binary, as gpg --export-secret-keys writes) holding the key that signs the chart's Helm provenance file, required with -cosign-key")
	flag.StringVar(&o.HelmKey, "helm-key", "", "name of the chart-signing key in -helm-keyring (helm package --sign --key: an identity equal to it, else the only one containing it)")
	flag.StringVar(&o.HelmPassphraseFile, "helm-passphrase-file", "", "file whose first line decrypts the -helm-key key, when it is encrypted (helm package --passphrase-file)")
	flag.BoolVar(&o.Tlog, "tlog", false, "upload the signatures to the Rekor transparency log and verify them there (a real pipeline; offline, leave it off)")
	platforms := flag.String("plugin-platforms", "", "comma-separated os/arch pairs for the kubectl plugin (default: "+platformList(PluginPlatforms)+")")
	flag.Parse()
	if err := o.parsePlatforms(*platforms); err != nil {
		fail(err)
	}
	if err := o.complete(); err != nil {
		fail(err)
	}
	if err := Run(o); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "release:", err)
	os.Exit(1)
}

func platformList(ps [][2]string) string {
	var l []string
	for _, p := range ps {
		l = append(l, p[0]+"/"+p[1])
	}
	return strings.Join(l, ",")
}

// parsePlatforms narrows the plugin's platforms to a subset of PluginPlatforms (the tests build
// one: each further platform costs a cross-build of the plugin and its dependencies, minutes cold).
func (o *Options) parsePlatforms(list string) error {
	if list == "" {
		o.Platforms = PluginPlatforms
		return nil
	}
	for _, item := range strings.Split(list, ",") {
		goos, goarch, _ := strings.Cut(strings.TrimSpace(item), "/")
		found := false
		for _, p := range PluginPlatforms {
			if p == [2]string{goos, goarch} {
				o.Platforms, found = append(o.Platforms, p), true
			}
		}
		if !found {
			return fmt.Errorf("-plugin-platforms: %q is not one of %s", item, platformList(PluginPlatforms))
		}
	}
	return nil
}

// complete fills the commit and the epoch from git (SOURCE_DATE_EPOCH when set) and checks the rest.
func (o *Options) complete() error {
	if o.Out == "" || o.Version == "" || o.Cyclonedx == "" || o.Kubectl == "" || o.Helm == "" {
		return errors.New("-out, -version, -cyclonedx, -kubectl and -helm are required")
	}
	if err := o.checkSigning(); err != nil {
		return err
	}
	if !strings.HasPrefix(o.Version, "v") {
		return fmt.Errorf("version %q is not v + semver", o.Version)
	}
	if o.Commit == "" {
		out, err := exec.Command("git", "rev-parse", "HEAD").Output()
		if err != nil {
			return fmt.Errorf("git rev-parse HEAD: %w", err)
		}
		o.Commit = strings.TrimSpace(string(out))
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		out, err := exec.Command("git", "log", "-1", "--format=%ct", o.Commit).Output()
		if err != nil {
			return fmt.Errorf("the commit time of %s: %w", o.Commit, err)
		}
		epoch = strings.TrimSpace(string(out))
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", epoch, err)
	}
	o.Epoch = time.Unix(sec, 0).UTC()
	return nil
}

// checkSigning refuses a signed release without the project's long-lived key: a pair generated for
// the release, published beside it, proves nothing about who made it (whoever can replace the
// release's files can sign them with a new pair and ship its cosign.pub), so that takes
// -ephemeral-key, for tests and dry runs only.
func (o *Options) checkSigning() error {
	switch {
	case o.Cosign == "":
		if o.CosignKey != "" || o.EphemeralKey || o.Tlog {
			return errors.New("-cosign-key, -ephemeral-key and -tlog need -cosign")
		}
		return o.checkChartKey()
	case o.CosignKey != "" && o.EphemeralKey:
		return errors.New("-cosign-key and -ephemeral-key exclude each other")
	case o.CosignKey == "" && !o.EphemeralKey:
		return errors.New("-cosign needs -cosign-key (make release COSIGN_KEY=...): the project's long-lived signing key, " +
			"a KMS URI (awskms://, gcpkms://, azurekms://, hashivault://) or an encrypted cosign.key, whose public key users " +
			"obtain apart from the release, never from it (docs/release.md); -ephemeral-key (make release EPHEMERAL_KEY=1) " +
			"signs with a throwaway pair, for tests and dry runs only (make release UNSIGNED=1 for an unsigned build)")
	case o.EphemeralKey && o.Tlog:
		return errors.New("-tlog with -ephemeral-key would put a throwaway key's signatures in the public transparency log")
	}
	if _, ok := os.LookupEnv("COSIGN_PASSWORD"); !ok && !o.EphemeralKey && !isKMS(o.CosignKey) {
		return errors.New("COSIGN_PASSWORD is not set: cosign needs it to decrypt -cosign-key")
	}
	return o.checkChartKey()
}

// checkChartKey: the chart's Helm provenance is signed with the project's long-lived OpenPGP key
// whenever the release is signed with its cosign key, and with a throwaway one under
// -ephemeral-key.
func (o *Options) checkChartKey() error {
	given := o.HelmKeyring != "" || o.HelmKey != "" || o.HelmPassphraseFile != ""
	switch {
	case o.Cosign == "" && given:
		return errors.New("-helm-keyring, -helm-key and -helm-passphrase-file need -cosign")
	case o.EphemeralKey && given:
		return errors.New("-ephemeral-key signs the chart with a throwaway OpenPGP key too: it excludes -helm-keyring and -helm-key")
	case o.Cosign != "" && !o.EphemeralKey && (o.HelmKeyring == "" || o.HelmKey == ""):
		return errors.New("-cosign-key needs -helm-keyring and -helm-key (make release HELM_SIGN_KEYRING=... HELM_SIGN_KEY=...): " +
			"the project's long-lived OpenPGP key that signs the chart's Helm provenance file (helm verify checks it; docs/release.md)")
	}
	return nil
}

// isKMS says whether a cosign key is a KMS URI (awskms://, gcpkms://, hashivault://, ...), which
// needs no password, rather than a key file.
func isKMS(key string) bool {
	return strings.Contains(key, "://")
}

// Run writes the release into o.Out, from the repository in the working directory.
func Run(o Options) error {
	if err := os.RemoveAll(o.Out); err != nil {
		return err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "rsched-release-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()
	digests := map[string]string{}
	for _, name := range []string{"manager", "scheduler"} {
		d, err := releaseImage(o, work, name)
		if err != nil {
			return fmt.Errorf("image %s: %w", name, err)
		}
		digests[name] = d
	}
	steps := []step{
		{"crds.yaml", func() error { return writeCRDs(o) }},
		{"install.yaml", func() error { return writeInstall(o, work, digests) }},
		{"chart", func() error { return packageChart(o, work, digests) }},
		{"kubectl plugin", func() error { return writePlugin(o, work) }},
	}
	steps = append(steps, signSteps(o, work)...)
	for _, s := range steps {
		progress("%s", s.what)
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	progress("release %s written to %s", o.Version, o.Out)
	if o.EphemeralKey {
		progress("WARNING: UNTRUSTED: signed with an ephemeral key, the signatures prove nothing; do not publish (%s)",
			filepath.Join(o.Out, "UNTRUSTED-EPHEMERAL-KEY"))
	}
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "release: "+format+"\n", args...)
}

type step struct {
	what string
	do   func() error
}

// signSteps sign the release when o.Cosign is set, then write SHA256SUMS (and sign it).
func signSteps(o Options, work string) []step {
	if o.Cosign == "" {
		return []step{{"SHA256SUMS", func() error { return writeSums(o.Out, "") }}}
	}
	var s *Signer
	header := ""
	if o.EphemeralKey {
		header = ephemeralNote
	}
	// chart runs sign on the packaged chart.
	chart := func(sign func(string) error) func() error {
		return func() error {
			matches, err := filepath.Glob(filepath.Join(o.Out, "*.tgz"))
			if err != nil || len(matches) != 1 {
				return fmt.Errorf("the chart: %v %v", matches, err)
			}
			return sign(matches[0])
		}
	}
	return []step{
		{"cosign key", func() (err error) { s, err = newSigner(o, work); return err }},
		{"image signatures and SBOM attestations", func() error { return s.signImages(o) }},
		{"chart signature", chart(func(tgz string) error { return s.signBlob(tgz) })},
		{"chart provenance (helm verify)", chart(func(tgz string) error { return signChart(o, tgz) })},
		{"SHA256SUMS", func() error { return writeSums(o.Out, header) }},
		{"SHA256SUMS signature", func() error { return s.signBlob(filepath.Join(o.Out, "SHA256SUMS")) }},
	}
}

// buildBinary builds pkg for linux/amd64 as make build does (static, -trimpath, version and
// commit stamped) into file.
func buildBinary(o Options, pkg, file, goos, goarch string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags",
		"-s -w -X github.com/rsched/rsched/internal/version.Version="+o.Version+
			" -X github.com/rsched/rsched/internal/version.Commit="+o.Commit,
		"-o", file, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

// run runs a tool and returns its standard output; its standard error is in the error.
func run(name string, args ...string) ([]byte, error) {
	return runEnv(nil, name, args...)
}

// runEnv is run with env added to the environment (values never reach the error).
func runEnv(env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}
