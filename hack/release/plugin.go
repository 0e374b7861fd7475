package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// PluginPlatforms are the platforms the kubectl plugin is released for (os/arch).
var PluginPlatforms = [][2]string{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "arm64"}}

// PluginArchive is the name of the kubectl plugin's tarball for a platform.
func PluginArchive(version, goos, goarch string) string {
	return fmt.Sprintf("kubectl-rsched_%s_%s_%s.tar.gz", version, goos, goarch)
}

// writePlugin writes the kubectl plugin's tarball per platform (the binary and LICENSE) and
// plugins/rsched.yaml, the krew manifest naming each tarball's sha256.
func writePlugin(o Options, work string) error {
	license, err := os.ReadFile("LICENSE")
	if err != nil {
		return err
	}
	platforms := ""
	for _, p := range o.Platforms {
		bin := filepath.Join(work, "kubectl-rsched-"+p[0]+"-"+p[1])
		if err := buildBinary(o, "./cmd/kubectl-rsched", bin, p[0], p[1]); err != nil {
			return err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		tgz, err := TarGz([]string{"kubectl-rsched", "LICENSE"}, map[string]tarFile{
			"kubectl-rsched": {0o755, data}, "LICENSE": {0o644, license},
		}, o.Epoch)
		if err != nil {
			return err
		}
		name := PluginArchive(o.Version, p[0], p[1])
		if err := os.WriteFile(filepath.Join(o.Out, name), tgz, 0o644); err != nil {
			return err
		}
		sum := sha256.Sum256(tgz)
		platforms += fmt.Sprintf(`    - selector:
        matchLabels:
          os: %s
          arch: %s
      uri: https://github.com/rsched/rsched/releases/download/%s/%s
      sha256: %s
      bin: kubectl-rsched
      files:
        - from: kubectl-rsched
          to: .
        - from: LICENSE
          to: .
`, p[0], p[1], o.Version, name, hex.EncodeToString(sum[:]))
	}
	manifest := fmt.Sprintf(`apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: rsched
spec:
  version: %s
  homepage: https://github.com/rsched/rsched
  shortDescription: Status, key rotations and certificates of rsched
  description: |
    Shows the SchedulerInstances and KeyRotationPolicies of the rsched operator, rotates keys
    on demand, lists keyring keys and serving certificates, and renews a certificate
    (kubectl rsched status|rotate|keys|certs|renew|version). See docs/kubectl-rsched.md.
  platforms:
%s`, o.Version, platforms)
	if err := os.MkdirAll(filepath.Join(o.Out, "plugins"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.Out, "plugins", "rsched.yaml"), []byte(manifest), 0o644)
}
