// Command kubectl-rsched is the kubectl plugin for rsched: with it on the PATH, `kubectl rsched
// status`, `kubectl rsched rotate POLICY`, `kubectl rsched keys POLICY`, `kubectl rsched certs
// [INSTANCE]`, `kubectl rsched renew INSTANCE` and `kubectl rsched version` work like kubectl's own
// commands (the same kubeconfig, context and namespace flags). See docs/kubectl-rsched.md.
//
// Installed (or linked) under the name kubectl_complete-rsched, it is the completion helper that
// kubectl (1.26+) runs for `kubectl rsched <TAB>`: it answers cobra's __complete request, with the
// names of SchedulerInstances and KeyRotationPolicies for the commands that take one.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/rsched/rsched/internal/plugin"
)

func main() {
	cmd := plugin.NewCommand(genericclioptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	if filepath.Base(os.Args[0]) == "kubectl_complete-rsched" {
		cmd.SetArgs(append([]string{"__complete"}, os.Args[1:]...))
	}
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
