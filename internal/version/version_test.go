package version

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/mod/semver"
	"sigs.k8s.io/yaml"
)

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// One version scheme (v + semver) everywhere: a Helm install and a kustomize install of this tree
// run the same images, and the binaries say the version those images are tagged with.
func TestOneVersionEverywhere(t *testing.T) {
	if !semver.IsValid(Release) || semver.Canonical(Release) != Release || semver.Build(Release) != "" {
		t.Fatalf("Release %q is not v + a canonical semver", Release)
	}

	var chart struct {
		AppVersion string `json:"appVersion"`
		Version    string `json:"version"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "charts/rsched-operator/Chart.yaml"), &chart); err != nil {
		t.Fatal(err)
	}
	if chart.AppVersion != Release {
		t.Errorf("charts/rsched-operator/Chart.yaml appVersion %q, want %q (the image tags default to it)", chart.AppVersion, Release)
	}
	if !semver.IsValid("v" + chart.Version) {
		t.Errorf("the chart's own version %q is not semver", chart.Version)
	}

	var kust struct {
		Images []struct{ Name, NewName, NewTag string } `json:"images"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "config/manager/kustomization.yaml"), &kust); err != nil {
		t.Fatal(err)
	}
	if len(kust.Images) != 1 || kust.Images[0].NewTag != Release {
		t.Errorf("config/manager/kustomization.yaml images %+v, want the tag %q", kust.Images, Release)
	}

	manager := string(readRepoFile(t, "config/manager/manager.yaml"))
	for _, want := range []string{"app.kubernetes.io/version: " + Release} {
		if !strings.Contains(manager, want) {
			t.Errorf("config/manager/manager.yaml lacks %q", want)
		}
	}

	sample := string(readRepoFile(t, "config/samples/scheduling_v1alpha1_schedulerinstance_full.yaml"))
	if m := regexp.MustCompile(`image: ghcr.io/rsched/scheduler:(\S+)`).FindStringSubmatch(sample); m == nil || m[1] != Release {
		t.Errorf("the full sample's image tag %v, want %q", m, Release)
	}

	// make build, make images and make release take VERSION from this package's source.
	makefile := string(readRepoFile(t, "Makefile"))
	if !regexp.MustCompile(`(?m)^VERSION \?= .*internal/version/version\.go`).MatchString(makefile) {
		t.Error("the Makefile's VERSION is not read from internal/version/version.go")
	}

	if DefaultSchedulerImage() != "ghcr.io/rsched/scheduler:"+Release {
		t.Errorf("DefaultSchedulerImage() = %q with Version %q", DefaultSchedulerImage(), Version)
	}
}

func TestInfoString(t *testing.T) {
	for _, c := range []struct {
		in   Info
		want string
	}{
		{Info{Version: "v0.1.0"}, "v0.1.0"},
		{Info{Version: "v0.1.0", Commit: "1c6d8d0aabbccddeeff00112233", Modified: true, GoVersion: "go1.26.8"}, "v0.1.0 (commit 1c6d8d0aabbc, modified, go1.26.8)"},
	} {
		if got := c.in.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.in, got, c.want)
		}
	}
}
