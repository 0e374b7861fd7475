package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ChartDir is the Helm chart released.
const ChartDir = "charts/rsched-operator"

// writeCRDs writes crds.yaml: every CRD of config/crd, as kubectl apply -f takes them.
func writeCRDs(o Options) error {
	out, err := run(o.Kubectl, "kustomize", "config/crd")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.Out, "crds.yaml"), out, 0o644)
}

// writeInstall writes install.yaml: config/default (kubectl apply -k config/default) with the
// manager image and the manager's --scheduler-image pinned by the digests of the layouts.
func writeInstall(o Options, work string, digests map[string]string) error {
	dir := filepath.Join(work, "install")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	// kustomize takes a resource directory only by a path relative to the kustomization.
	rel, err := filepath.Rel(dir, filepath.Join(cwd, "config", "default"))
	if err != nil {
		return err
	}
	k := fmt.Sprintf(`resources:
  - %s
images:
  - name: %s
    digest: %s
patches:
  - target: {kind: Deployment}
    patch: |-
      - op: add
        path: /spec/template/spec/containers/0/args/-
        value: --scheduler-image=%s@%s
`, rel, Repositories["manager"], digests["manager"], Repositories["scheduler"], digests["scheduler"])
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		return err
	}
	out, err := run(o.Kubectl, "kustomize", dir)
	if err != nil {
		return err
	}
	if !bytes.Contains(out, []byte("--scheduler-image=")) {
		return fmt.Errorf("the manager Deployment of config/default was not found to pin --scheduler-image")
	}
	return os.WriteFile(filepath.Join(o.Out, "install.yaml"), out, 0o644)
}

// packageChart packages the chart (helm package) with image.digest and schedulerImage.digest set
// to the layouts' digests in its values.yaml, every file's time in the archive o.Epoch.
func packageChart(o Options, work string, digests map[string]string) error {
	src := filepath.Join(work, "chart", filepath.Base(ChartDir))
	if err := os.CopyFS(src, os.DirFS(ChartDir)); err != nil {
		return err
	}
	values := filepath.Join(src, "values.yaml")
	b, err := os.ReadFile(values)
	if err != nil {
		return err
	}
	pinned, err := PinChartDigests(string(b), digests)
	if err != nil {
		return err
	}
	if err := os.WriteFile(values, []byte(pinned), 0o644); err != nil {
		return err
	}
	pkgDir := filepath.Join(work, "chart-package")
	if _, err := run(o.Helm, "package", src, "--destination", pkgDir); err != nil {
		return err
	}
	entries, err := os.ReadDir(pkgDir)
	if err != nil || len(entries) != 1 {
		return fmt.Errorf("helm package wrote %d files: %v", len(entries), err)
	}
	tgz, err := os.ReadFile(filepath.Join(pkgDir, entries[0].Name()))
	if err != nil {
		return err
	}
	fixed, err := Retime(tgz, o.Epoch)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.Out, entries[0].Name()), fixed, 0o644)
}

// PinChartDigests sets `digest:` of the image and schedulerImage blocks of values.yaml.
func PinChartDigests(values string, digests map[string]string) (string, error) {
	want := map[string]string{"image": digests["manager"], "schedulerImage": digests["scheduler"]}
	lines := strings.Split(values, "\n")
	block, set := "", 0
	for i, l := range lines {
		if l != "" && l[0] != ' ' && l[0] != '#' {
			block = strings.TrimSuffix(strings.TrimSpace(l), ":")
		}
		if d, ok := want[block]; ok && l == `  digest: ""` {
			lines[i] = fmt.Sprintf("  digest: %q", d)
			set++
		}
	}
	if set != len(want) {
		return "", fmt.Errorf("values.yaml: set %d image digests, want %d", set, len(want))
	}
	return strings.Join(lines, "\n"), nil
}

// Retime rewrites a .tar.gz with every entry's time (and the gzip header's) set to t: helm
// package stamps the time of packaging.
func Retime(tgz []byte, t time.Time) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.ModTime = t
	tr, tw := tar.NewReader(zr), tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		h.ModTime, h.AccessTime, h.ChangeTime = t, time.Time{}, time.Time{}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// TarGz is a .tar.gz of files (name → mode and content) in the order given, every time t.
func TarGz(names []string, files map[string]tarFile, t time.Time) ([]byte, error) {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.ModTime = t
	tw := tar.NewWriter(zw)
	for _, n := range names {
		f := files[n]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: f.mode, Size: int64(len(f.data)), ModTime: t, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

type tarFile struct {
	mode int64
	data []byte
}

// writeSums writes SHA256SUMS (sha256sum -c reads it) over every other file under dir, by path,
// after header's lines as comments.
func writeSums(dir, header string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err == nil && rel != "SHA256SUMS" {
			paths = append(paths, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	var sums strings.Builder
	for _, l := range strings.SplitAfter(header, "\n") {
		if l != "" { // comment lines: sha256sum -c skips them
			sums.WriteString("# " + l)
		}
	}
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), p)
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644)
}
