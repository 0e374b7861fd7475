// Package version holds the build version, set at link time:
//
//	go build -ldflags "-X github.com/rsched/rsched/internal/version.Version=v0.1.0"
package version
