// Command images assembles the operator and API server images without Docker: each is a
// docker-archive tarball (what `docker save` writes and `ctr images import` and `docker load`
// read) of one layer holding a static binary and a passwd entry for the non-root user (no CA
// bundle: the binaries embed their fallback roots), with the same configuration as the
// Dockerfile's runtime targets: user 65532:65532, the binary as entrypoint, no shell.
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

	"github.com/rsched/rsched/hack/imagefs"
)

func main() {
	out := flag.String("out", "bin/images", "directory for the tarballs")
	tag := flag.String("tag", "dev", "image tag (also the version stamped into the binaries)")
	e2eClient := flag.Bool("e2e-client", false, "also assemble localhost/rsched/e2e-client:<tag>, the end-to-end tests' client pod")
	flag.Parse()
	images := imagefs.Images("localhost/rsched", *tag)
	if *e2eClient {
		images = append(images, imagefs.Image{Name: "e2e-client", Pkg: "./test/e2e/client", Ref: "localhost/rsched/e2e-client:" + *tag, Title: "rsched end-to-end test client"})
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	for _, img := range images {
		bin := filepath.Join(*out, img.Name)
		build := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
			"-ldflags", "-s -w -X github.com/rsched/rsched/internal/version.Version="+*tag, "-o", bin, img.Package())
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
		if err := Write(file, img, data); err != nil {
			fail(err)
		}
		fmt.Printf("%s  %s\n", file, img.Ref)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "images:", err)
	os.Exit(1)
}

// Write writes the docker-archive of img with the binary data to file.
func Write(file string, img imagefs.Image, binary []byte) error {
	layer, err := imagefs.Layer(img.Name, binary, time.Unix(0, 0))
	if err != nil {
		return err
	}
	diffID := sha256.Sum256(layer)
	cfg := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      time.Unix(0, 0).UTC().Format(time.RFC3339),
		"config":       imagefs.Config(img),
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
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
