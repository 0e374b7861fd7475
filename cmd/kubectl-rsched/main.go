// Command kubectl-rsched is the kubectl plugin for rsched: with it on the PATH, `kubectl rsched
// status`, `kubectl rsched rotate POLICY`, `kubectl rsched keys POLICY`, `kubectl rsched certs
// [INSTANCE]` and `kubectl rsched renew INSTANCE` work like kubectl's own commands (the same
// kubeconfig, context and namespace flags). See docs/kubectl-rsched.md.
package main

import (
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/rsched/rsched/internal/plugin"
)

func main() {
	cmd := plugin.NewCommand(genericclioptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
