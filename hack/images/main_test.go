package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rsched/rsched/hack/imagefs"
)

// readArchive returns the files of a tar stream.
func readArchive(t *testing.T, r io.Reader) map[string]*bytes.Buffer {
	t.Helper()
	out := map[string]*bytes.Buffer{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b := &bytes.Buffer{}
		if _, err := io.Copy(b, tr); err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(h.Name, "/")] = b
	}
}

// The real `go run ./hack/images` (what make images runs) builds both images; each archive's
// configuration says non-root user and the binary as entrypoint, and its one layer holds no
// shell, no CA bundle (the binaries embed their fallback roots) and a statically linked executable.
func TestImagesAreNonRootStaticAndShellless(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./hack/images", "-out", out, "-tag", "test")
	cmd.Dir = filepath.Join("..", "..") // it builds ./cmd/<name> from the repository root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./hack/images: %v\n%s", err, b)
	}
	for _, img := range imagefs.Images("localhost/rsched", "test") {
		f, err := os.Open(filepath.Join(out, img.Name+".tar"))
		if err != nil {
			t.Fatal(err)
		}
		files := readArchive(t, f)
		_ = f.Close()
		var manifest []struct {
			Config   string
			RepoTags []string
			Layers   []string
		}
		if err := json.Unmarshal(files["manifest.json"].Bytes(), &manifest); err != nil || len(manifest) != 1 {
			t.Fatalf("%s: manifest %v", img.Name, err)
		}
		m := manifest[0]
		if len(m.RepoTags) != 1 || m.RepoTags[0] != img.Ref || len(m.Layers) != 1 {
			t.Fatalf("%s: manifest %+v", img.Name, m)
		}
		var cfg struct {
			Architecture, OS string
			Config           struct {
				User       string
				Entrypoint []string
			}
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
		cfgBytes := files[m.Config].Bytes()
		if sum := sha256.Sum256(cfgBytes); hex.EncodeToString(sum[:])+".json" != m.Config {
			t.Fatalf("%s: the config's name is not its digest", img.Name)
		}
		if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Config.User != "65532:65532" || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/"+img.Name ||
			cfg.Architecture != "amd64" || cfg.OS != "linux" {
			t.Fatalf("%s: config %+v", img.Name, cfg)
		}
		layer := files[m.Layers[0]].Bytes()
		if sum := sha256.Sum256(layer); len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Fatalf("%s: diff_id does not match the layer", img.Name)
		}
		content := readArchive(t, bytes.NewReader(layer))
		for name := range content {
			base := filepath.Base(name)
			if strings.HasPrefix(name, "bin") || strings.HasPrefix(name, "usr") || base == "sh" || base == "bash" || base == "busybox" ||
				strings.HasPrefix(name, "etc/ssl") || strings.HasSuffix(name, ".crt") || strings.HasSuffix(name, ".pem") {
				t.Fatalf("%s: the image holds %s", img.Name, name)
			}
		}
		if !strings.Contains(content["etc/passwd"].String(), "nonroot:x:65532:65532") {
			t.Fatalf("%s: /etc/passwd does not name the user", img.Name)
		}
		bin := content[img.Name]
		if bin == nil {
			t.Fatalf("%s: no /%s", img.Name, img.Name)
		}
		// Static: no program interpreter (dynamic loader) to find in a scratch image.
		exe, err := elf.NewFile(bytes.NewReader(bin.Bytes()))
		if err != nil {
			t.Fatalf("%s: %v", img.Name, err)
		}
		for _, p := range exe.Progs {
			if p.Type == elf.PT_INTERP {
				t.Fatalf("%s: dynamically linked", img.Name)
			}
		}
	}
}
