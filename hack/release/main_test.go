package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rsched/rsched/internal/version"
)

// tool is the path in the environment variable env (make test's hack/test-env.sh sets it).
func tool(t *testing.T, env, hint string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		t.Fatalf("%s is not set: source hack/test-env.sh (%s)", env, hint)
	}
	return p
}

// The real release, twice from this tree (the go build cache warm: ~50 s), gives the same bytes;
// its image layouts are valid, install.yaml and the chart reference the images by the layouts'
// digests, each SBOM lists what `go version -m` says the image's binary holds, and SHA256SUMS
// verifies with sha256sum -c and fails on a changed file.
func TestReleaseIsReproducibleAndVerifies(t *testing.T) {
	cyclonedx := tool(t, "RSCHED_CYCLONEDX_BIN", "hack/get-cyclonedx.sh")
	kubectl := filepath.Join(tool(t, "KUBEBUILDER_ASSETS", "hack/envtest-assets.sh"), "kubectl")
	helm := tool(t, "RSCHED_HELM_BIN", "make helm-bin")
	cosign := tool(t, "RSCHED_COSIGN_BIN", "hack/get-cosign.sh")
	t.Setenv("COSIGN_PASSWORD", rand.Text())
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	// The project's long-lived key, as the release pipeline holds it: an encrypted key file made
	// apart from the release, whose cosign.pub is the trust anchor users get out of band.
	anchor := filepath.Join(tmp, "key")
	if err := os.Mkdir(anchor, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := cosignRun(cosign, anchor, "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	// And its OpenPGP key for the chart's Helm provenance, encrypted, its passphrase in a file.
	chartKey := chartSigningKey{name: "rsched release test", passphraseFile: filepath.Join(anchor, "passphrase")}
	passphrase := rand.Text()
	chartKey.secring, chartKey.pubring = pgpKey(t, anchor, chartKey.name, passphrase)
	if err := os.WriteFile(chartKey.passphraseFile, []byte(passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	release := filepath.Join(tmp, "release")
	build := exec.Command("go", "build", "-o", release, "./hack/release")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./hack/release: %v\n%s", err, out)
	}
	dirs := []string{filepath.Join(tmp, "a"), filepath.Join(tmp, "b")}
	for i, d := range dirs {
		start := time.Now()
		// The plugin for this platform only: make release cross-builds two more, minutes each cold.
		args := []string{"-out", d, "-version", version.Release, "-cyclonedx", cyclonedx, "-kubectl", kubectl, "-helm", helm,
			"-plugin-platforms", "linux/amd64"}
		if i == 1 { // the second one signed: what it adds is all that may differ
			args = append(args, "-cosign", cosign, "-cosign-key", filepath.Join(anchor, "cosign.key"),
				"-helm-keyring", chartKey.secring, "-helm-key", "release test", "-helm-passphrase-file", chartKey.passphraseFile)
		}
		cmd := exec.Command(release, args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("release: %v\n%s", err, out)
		}
		t.Logf("release into %s in %s", filepath.Base(d), time.Since(start).Round(time.Second))
	}
	sumsA, sumsB := readFile(t, dirs[0], "SHA256SUMS"), readFile(t, dirs[1], "SHA256SUMS")
	if unsigned := withoutSignatures(sumsB); sumsA != unsigned || unsigned == sumsB {
		t.Fatalf("two releases of one tree differ (or the second is not signed):\n%s", lineDiff(sumsA, unsigned))
	}
	for _, signed := range []string{"rsched-operator-0.1.0.tgz.prov", KeyringName, "rsched-operator-0.1.0.tgz.sig"} {
		if !strings.Contains(sumsB, "  "+signed+"\n") {
			t.Errorf("the signed release's SHA256SUMS does not list %s", signed)
		}
	}
	for _, want := range []string{"crds.yaml", "install.yaml", "manager.cdx.json", "scheduler.cdx.json", "rsched-operator-0.1.0.tgz",
		"plugins/rsched.yaml", "images/manager/index.json", "images/scheduler/index.json", PluginArchive(version.Release, "linux", "amd64")} {
		if !strings.Contains(sumsA, "  "+want+"\n") {
			t.Errorf("SHA256SUMS does not list %s", want)
		}
	}
	dir := dirs[0]
	checkKrewManifest(t, dir, sumsA)
	digests := map[string]string{}
	for _, name := range []string{"manager", "scheduler"} {
		img := layoutImage(t, filepath.Join(dir, "images", name))
		d, _ := img.Digest()
		digests[name] = d.String()
		checkSBOM(t, name, extractBinary(t, img, name, tmp), filepath.Join(dir, name+".cdx.json"))
	}
	checkPinned(t, dir, digests)
	checkSignatures(t, cosign, dirs[1], filepath.Join(anchor, "cosign.pub"), digests)
	checkProvenance(t, helm, dirs[1], filepath.Join(root, ChartDir), chartKey)
	checkSums(t, dirs[1])
}

// withoutSignatures is SHA256SUMS without the lines of what signing adds.
func withoutSignatures(sums string) string {
	var keep []string
	for _, l := range strings.SplitAfter(sums, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && (strings.HasPrefix(f[1], "signed/") || strings.HasSuffix(f[1], ".sig") || strings.HasSuffix(f[1], ".prov") ||
			f[1] == "cosign.pub" || f[1] == KeyringName) {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "")
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// layoutImage is the one image of an OCI layout, validated (every blob matches its digest).
func layoutImage(t *testing.T, dir string) v1.Image {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != version.Release {
		t.Fatalf("%s: index %+v %v", dir, m, err)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil || cfg.Config.User != "65532:65532" || cfg.Config.Labels["org.opencontainers.image.version"] != version.Release {
		t.Fatalf("%s: config %+v %v", dir, cfg, err)
	}
	return img
}

// extractBinary writes /<name> of the image's layer to a file and returns its path, after checking
// that the layer holds the binary, the passwd and group files of the non-root user and an empty
// /tmp, and nothing else of the build host (no CA bundle: the roots are compiled in, see checkSBOM).
func extractBinary(t *testing.T, img v1.Image, name, tmp string) string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%s: %d layers, %v", name, len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	files := map[string][]byte{}
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: reading the layer: %v", name, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], names = b, append(names, h.Name)
	}
	if want := []string{"etc/", "etc/passwd", "etc/group", "tmp/", name}; !slices.Equal(names, want) {
		t.Fatalf("%s: the layer holds %v, want exactly %v (no CA bundle)", name, names, want)
	}
	if !strings.Contains(string(files["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Fatalf("%s: /etc/passwd does not name the non-root user:\n%s", name, files["etc/passwd"])
	}
	file := filepath.Join(tmp, "bin-"+name)
	if err := os.WriteFile(file, files[name], 0o755); err != nil {
		t.Fatal(err)
	}
	return file
}

// checkSBOM compares the SBOM's main module and components with `go version -m` of the binary.
func checkSBOM(t *testing.T, name, binary, sbomFile string) {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", binary).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	mainPath, deps := "", map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && f[0] == "mod":
			mainPath = f[1]
		case len(f) >= 3 && f[0] == "dep":
			deps[f[1]] = f[2]
		case len(f) >= 3 && f[0] == "=>": // a replacement: the version linked is the replacement's
			deps[f[1]] = f[2]
		}
	}
	var sbom struct {
		Metadata struct {
			Component struct{ Name, Version string }
		}
		Components []struct{ Name, Version string }
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Dir(sbomFile), filepath.Base(sbomFile))), &sbom); err != nil {
		t.Fatal(err)
	}
	if sbom.Metadata.Component.Name != mainPath || mainPath != "github.com/rsched/rsched" || sbom.Metadata.Component.Version != version.Release {
		t.Errorf("%s: SBOM main module %+v, go version -m says %s", name, sbom.Metadata.Component, mainPath)
	}
	listed := map[string]string{}
	for _, c := range sbom.Components {
		listed[c.Name] = c.Version
	}
	// The roots the binary falls back to in an image without a CA bundle: a pinned module, listed.
	if fallback := "golang.org/x/crypto/x509roots/fallback"; deps[fallback] == "" || listed[fallback] != deps[fallback] {
		t.Errorf("%s: %s is not linked (%q) or not in the SBOM (%q)", name, fallback, deps[fallback], listed[fallback])
	}
	if len(deps) < 20 || !equalMaps(listed, deps) {
		t.Errorf("%s: SBOM components differ from go version -m:\nSBOM: %v\nbinary: %v", name, sortedKeys(listed), sortedKeys(deps))
	}
	for p, v := range deps {
		if listed[p] != v {
			t.Errorf("%s: SBOM lists %s %q, the binary links %s", name, p, listed[p], v)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"@"+v)
	}
	sort.Strings(out)
	return out
}

// checkPinned: install.yaml and the packaged chart name the images by the layouts' digests only.
func checkPinned(t *testing.T, dir string, digests map[string]string) {
	t.Helper()
	install := readFile(t, dir, "install.yaml")
	var refs []string
	for _, m := range regexp.MustCompile(`(?:image: |--scheduler-image=)"?(\S+)`).FindAllStringSubmatch(install, -1) {
		refs = append(refs, m[1])
	}
	want := []string{Repositories["scheduler"] + "@" + digests["scheduler"], Repositories["manager"] + "@" + digests["manager"]}
	if strings.Join(refs, " ") != strings.Join(want, " ") {
		t.Errorf("install.yaml references %v, want exactly %v", refs, want)
	}
	values := chartFile(t, filepath.Join(dir, "rsched-operator-0.1.0.tgz"), "rsched-operator/values.yaml")
	for _, name := range []string{"manager", "scheduler"} {
		if !strings.Contains(values, `digest: "`+digests[name]+`"`) {
			t.Errorf("the chart's values.yaml does not pin %s by %s", name, digests[name])
		}
	}
}

func chartFile(t *testing.T, tgz, name string) string {
	t.Helper()
	f, err := os.Open(tgz)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no %s: %v", tgz, name, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

// checkSums: sha256sum -c passes on the release, and fails once one byte of install.yaml changed.
func checkSums(t *testing.T, dir string) {
	t.Helper()
	verify := func() ([]byte, error) {
		cmd := exec.Command("sha256sum", "-c", "--strict", "SHA256SUMS")
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	if out, err := verify(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "install.yaml")
	b := []byte(readFile(t, dir, "install.yaml"))
	b[len(b)/2] ^= 1
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := verify()
	if err == nil || !strings.Contains(string(out), "install.yaml: FAILED") {
		t.Fatalf("sha256sum -c passed a changed install.yaml: %v\n%s", err, out)
	}
}

// checkKrewManifest: plugins/rsched.yaml names the plugin tarball with the sha256 SHA256SUMS has.
func checkKrewManifest(t *testing.T, dir, sums string) {
	t.Helper()
	manifest := readFile(t, dir, filepath.Join("plugins", "rsched.yaml"))
	name := PluginArchive(version.Release, "linux", "amd64")
	for _, l := range strings.Split(sums, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] == name {
			if !strings.Contains(manifest, "/"+name+"\n      sha256: "+f[0]+"\n") {
				t.Errorf("plugins/rsched.yaml does not give %s with sha256 %s:\n%s", name, f[0], manifest)
			}
			return
		}
	}
	t.Errorf("SHA256SUMS does not list %s", name)
}

// lineDiff lists the lines only a has (-) and only b has (+).
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ina, inb := in(a), in(b)
	var out []string
	for l := range ina {
		if !inb[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range inb {
		if !ina[l] {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
