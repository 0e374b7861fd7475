package gitops

import (
	"embed"
	"fmt"
	"strings"
)

//go:embed health/*.lua
var scripts embed.FS

// Kinds are the kinds that have a health check, in the order docs/gitops.md lists them.
var Kinds = []string{"SchedulerInstance", "KeyRotationPolicy"}

// HealthCheck returns the Argo CD health check (Lua) of kind.
func HealthCheck(kind string) (string, error) {
	b, err := scripts.ReadFile("health/" + strings.ToLower(kind) + ".lua")
	if err != nil {
		return "", fmt.Errorf("gitops: no health check for %s", kind)
	}
	return string(b), nil
}
