package version

import (
	"runtime/debug"
	"strings"
)

// Release is the version this source tree is, v + semver. The Helm chart's appVersion, the image
// tags of the chart and of the kustomize install, the samples and the Makefile's VERSION say the
// same (TestOneVersionEverywhere), so every install path runs the same images.
const Release = "v0.1.0"

// Version of this build: Release, unless the linker set another (hack/images sets the tag of the
// images it builds, "dev" for the e2e tests).
var Version = Release

// Commit is the git commit of the build when the linker set it (make build does); otherwise the
// VCS stamp of the go command is used, when there is one (not with -buildvcs=false).
var Commit = ""

// DefaultSchedulerImage is the scheduling API server image matching this build, used when neither
// a SchedulerInstance nor the manager's --scheduler-image flag names one.
func DefaultSchedulerImage() string {
	tag := Version
	if tag == "" || tag == "dev" {
		tag = "latest"
	}
	return "ghcr.io/rsched/scheduler:" + tag
}

// Info describes this build for `version` commands and logs.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
}

// Get returns this build's Info: the commit comes from the VCS stamp the go command records
// (empty when the binary was built outside a git checkout or with -buildvcs=false).
func Get() Info {
	info := Info{Version: Version, Commit: Commit}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	info.GoVersion = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is one line: "v0.1.0 (commit 1c6d8d0, modified, go1.26.8)".
func (i Info) String() string {
	var parts []string
	if i.Commit != "" {
		c := i.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		parts = append(parts, "commit "+c)
	}
	if i.Modified {
		parts = append(parts, "modified")
	}
	if i.GoVersion != "" {
		parts = append(parts, i.GoVersion)
	}
	if len(parts) == 0 {
		return i.Version
	}
	return i.Version + " (" + strings.Join(parts, ", ") + ")"
}
