// Command images assembles the operator and API server images without Docker: each is a
// docker-archive tarball (what `docker save` writes and `ctr images import` and `docker load`
// read) of one layer holding a static binary, the CA bundle and a passwd entry for the non-root
// user, with the same configuration as the Dockerfile's distroless targets: user 65532:65532,
// the binary as entrypoint, no shell.
//
//	go run ./hack/images -out bin/images -tag dev          (make images)
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Image describes one image to assemble.
type Image struct {
	// Name is the binary and the file /<Name> in the image.
	Name string
	// Pkg is the package built (./cmd/<Name> when empty).
	Pkg string
	// Ref is the repository:tag recorded in the archive.
	Ref string
	// Title is the OCI title label.
	Title string
	// Ports are the exposed TCP ports.
	Ports []int
}

const uid = 65532

// Images are the two images of the project, named as the Dockerfile's targets.
func Images(tag string) []Image {
	return []Image{
		{Name: "manager", Ref: "localhost/rsched/manager:" + tag, Title: "rsched operator"},
		{Name: "scheduler", Ref: "localhost/rsched/scheduler:" + tag, Title: "rsched scheduling API server", Ports: []int{8080, 9090}},
	}
}

func main() {
	out := flag.String("out", "bin/images", "directory for the tarballs")
	tag := flag.String("tag", "dev", "image tag (also the version stamped into the binaries)")
	e2eClient := flag.Bool("e2e-client", false, "also assemble localhost/rsched/e2e-client:<tag>, the end-to-end tests' client pod")
	flag.Parse()
	images := Images(*tag)
	if *e2eClient {
		images = append(images, Image{Name: "e2e-client", Pkg: "./test/e2e/client", Ref: "localhost/rsched/e2e-client:" + *tag, Title: "rsched end-to-end test client"})
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	for _, img := range images {
		bin := filepath.Join(*out, img.Name)
		pkg := img.Pkg
		if pkg == "" {
			pkg = "./cmd/" + img.Name
		}
		build := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
			"-ldflags", "-s -w -X github.com/rsched/rsched/internal/version.Version="+*tag, "-o", bin, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fail(fmt.Errorf("building %s: %w", img.Name, err))
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			fail(err)
		}
		_ = os.Remove(bin)
		file := filepath.Join(*out, img.Name+".tar")
		if err := Write(file, img, data, caBundle()); err != nil {
			fail(err)
		}
		fmt.Printf("%s  %s\n", file, img.Ref)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "images:", err)
	os.Exit(1)
}

// caBundle is the host's CA bundle (Debian's ca-certificates), so the binaries can verify TLS
// to Vault and PostgreSQL; nil when the host has none.
func caBundle() []byte {
	b, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		return nil
	}
	return b
}

// Write writes the docker-archive of img with the binary data to file.
func Write(file string, img Image, binary, ca []byte) error {
	layer, err := Layer(img.Name, binary, ca)
	if err != nil {
		return err
	}
	diffID := sha256.Sum256(layer)
	exposed := map[string]struct{}{}
	for _, p := range img.Ports {
		exposed[fmt.Sprintf("%d/tcp", p)] = struct{}{}
	}
	cfg := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      time.Unix(0, 0).UTC().Format(time.RFC3339),
		"config": map[string]any{
			"User":         fmt.Sprintf("%d:%d", uid, uid),
			"Entrypoint":   []string{"/" + img.Name},
			"Env":          []string{"PATH=/", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
			"WorkingDir":   "/",
			"ExposedPorts": exposed,
			"Labels": map[string]string{
				"org.opencontainers.image.source":   "https://github.com/rsched/rsched",
				"org.opencontainers.image.licenses": "Apache-2.0",
				"org.opencontainers.image.title":    img.Title,
			},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgSum := sha256.Sum256(cfgJSON)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{img.Ref}, "Layers": []string{"layer.tar"}}})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{"manifest.json", manifest}, {cfgName, cfgJSON}, {"layer.tar", layer}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(file, buf.Bytes(), 0o644)
}

// Layer is the image's only layer: /<name> (0755, root-owned so the process cannot replace it),
// /etc/passwd and /etc/group naming the non-root user, the CA bundle, and an empty /tmp.
func Layer(name string, binary, ca []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dir := func(n string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: n + "/", Mode: mode, ModTime: epoch, Format: tar.FormatPAX})
	}
	file := func(n string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []func() error{
		func() error { return dir("etc", 0o755) },
		func() error {
			return file("etc/passwd", 0o644, fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", uid, uid))
		},
		func() error { return file("etc/group", 0o644, fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", uid)) },
		func() error { return dir("etc/ssl", 0o755) },
		func() error { return dir("etc/ssl/certs", 0o755) },
		func() error {
			if ca == nil {
				return nil
			}
			return file("etc/ssl/certs/ca-certificates.crt", 0o644, ca)
		},
		func() error { return dir("tmp", 0o1777) },
		func() error { return file(name, 0o755, binary) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
