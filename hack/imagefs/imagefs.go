// Package imagefs is what the rsched images hold and how they run, shared by hack/images (the
// docker-archive tarballs of make images) and hack/release (the OCI image layouts of make
// release): one layer with a static binary and a passwd entry for the non-root user, and the
// configuration of the Dockerfile's runtime targets (user 65532:65532, the binary as entrypoint,
// no shell). No CA bundle: the binaries embed their fallback roots from a pinned module
// (golang.org/x/crypto/x509roots/fallback, in go.mod and so in the SBOM), not the build host's.
package imagefs

import (
	"archive/tar"
	"bytes"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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

// UID is the user (and group) the images run as.
const UID = 65532

// Images are the two images of the project, named as the Dockerfile's targets, in repository
// repo (e.g. localhost/rsched): <repo>/manager:<tag> and <repo>/scheduler:<tag>.
func Images(repo, tag string) []Image {
	return []Image{
		{Name: "manager", Ref: repo + "/manager:" + tag, Title: "rsched operator"},
		{Name: "scheduler", Ref: repo + "/scheduler:" + tag, Title: "rsched scheduling API server", Ports: []int{8080, 9090}},
	}
}

// Package is the Go package built into img.
func (img Image) Package() string {
	if img.Pkg != "" {
		return img.Pkg
	}
	return "./cmd/" + img.Name
}

// Config is how the image runs: non-root, the binary as entrypoint.
func Config(img Image) v1.Config {
	exposed := map[string]struct{}{}
	for _, p := range img.Ports {
		exposed[fmt.Sprintf("%d/tcp", p)] = struct{}{}
	}
	return v1.Config{
		User:         fmt.Sprintf("%d:%d", UID, UID),
		Entrypoint:   []string{"/" + img.Name},
		Env:          []string{"PATH=/"},
		WorkingDir:   "/",
		ExposedPorts: exposed,
		Labels: map[string]string{
			"org.opencontainers.image.source":   "https://github.com/rsched/rsched",
			"org.opencontainers.image.licenses": "Apache-2.0",
			"org.opencontainers.image.title":    img.Title,
		},
	}
}

// Layer is the image's only layer: /<name> (0755, root-owned so the process cannot replace it),
// /etc/passwd and /etc/group naming the non-root user, and an empty /tmp; every entry has the
// modification time mtime, in a fixed order, so the same inputs give the same bytes. It holds no
// CA bundle: nothing of the build host but the binary goes in.
func Layer(name string, binary []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(n string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: n + "/", Mode: mode, ModTime: mtime, Format: tar.FormatPAX})
	}
	file := func(n string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: mode, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []func() error{
		func() error { return dir("etc", 0o755) },
		func() error {
			return file("etc/passwd", 0o644, fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, UID))
		},
		func() error { return file("etc/group", 0o644, fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", UID)) },
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
