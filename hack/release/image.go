package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rsched/rsched/hack/imagefs"
)

// releaseImage builds the image name into the OCI image layout images/<name>/ and its SBOM
// <name>.cdx.json, and returns the image's manifest digest.
func releaseImage(o Options, work, name string) (string, error) {
	var img imagefs.Image
	for _, i := range imagefs.Images(Repositories[name], o.Version) {
		if i.Name == name {
			img = i
		}
	}
	img.Ref = Repositories[name] + ":" + o.Version
	bin := filepath.Join(work, name)
	progress("building %s", img.Package())
	if err := buildBinary(o, img.Package(), bin, "linux", "amd64"); err != nil {
		return "", err
	}
	progress("SBOM of %s", name)
	if _, err := run(o.Cyclonedx, "bin", "-json", "-noserial", "-notimestamp", "-version", o.Version,
		"-output", filepath.Join(o.Out, name+".cdx.json"), bin); err != nil {
		return "", err
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	progress("image %s", img.Ref)
	image, err := Build(img, binary, o)
	if err != nil {
		return "", err
	}
	if err := WriteLayout(filepath.Join(o.Out, "images", name), image, o.Version); err != nil {
		return "", err
	}
	d, err := image.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// Build is the OCI image of img holding binary: one gzip layer, every timestamp o.Epoch, the
// version and commit as OCI annotations and labels.
func Build(img imagefs.Image, binary []byte, o Options) (v1.Image, error) {
	layerTar, err := imagefs.Layer(img.Name, binary, o.Epoch)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	cfg := imagefs.Config(img)
	cfg.Labels["org.opencontainers.image.version"] = o.Version
	cfg.Labels["org.opencontainers.image.revision"] = o.Commit
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	base, err = mutate.ConfigFile(base, &v1.ConfigFile{
		Architecture: "amd64", OS: "linux", Created: v1.Time{Time: o.Epoch}, Config: cfg,
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	image, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: o.Epoch}, CreatedBy: "hack/release: /" + img.Name + ", passwd for " + fmt.Sprint(imagefs.UID),
	}})
	if err != nil {
		return nil, err
	}
	annotated, ok := mutate.Annotations(image, map[string]string{
		"org.opencontainers.image.created":  o.Epoch.Format("2006-01-02T15:04:05Z"),
		"org.opencontainers.image.version":  o.Version,
		"org.opencontainers.image.revision": o.Commit,
		"org.opencontainers.image.source":   "https://github.com/rsched/rsched",
		"org.opencontainers.image.title":    img.Title,
	}).(v1.Image)
	if !ok {
		return nil, fmt.Errorf("annotating %s", img.Name)
	}
	return annotated, nil
}

// WriteLayout writes image as the only manifest of a new OCI image layout in dir, named tag
// (org.opencontainers.image.ref.name, what `crane push <dir>` and skopeo's oci:<dir>:<tag> read).
func WriteLayout(dir string, image v1.Image, tag string) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(image, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
}
