// Package version holds the build version: Release, the version of this source tree, which the
// linker may override for test images:
//
//	go build -ldflags "-X github.com/rsched/rsched/internal/version.Version=dev"
package version
