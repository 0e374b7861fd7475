package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/version"
)

// managerSelector finds the operator's Deployment as both install paths label it (the chart's
// managerLabels, config/manager/manager.yaml).
var managerSelector = client.MatchingLabels{"app.kubernetes.io/name": "rsched", "app.kubernetes.io/component": "manager"}

// VersionView is what `kubectl rsched version` reports.
type VersionView struct {
	Client version.Info `json:"client"`
	// Operators are the manager Deployments found; more than one is several installs (one per
	// team in namespaced mode, say).
	Operators []OperatorView `json:"operators"`
	// OperatorError says why the operators could not be listed (no permission, no cluster).
	OperatorError string `json:"operatorError,omitempty"`
}

// OperatorView is one manager Deployment: the version it is labelled with and the image it runs.
type OperatorView struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	Image     string `json:"image"`
	Ready     string `json:"ready"`
}

func (o *Options) versionCommand() *cobra.Command {
	var format string
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "The plugin's version and the operator's (the manager Deployments in the cluster)",
		Long: `version prints the plugin's version, commit and Go version, and for every rsched manager
Deployment it may list (labels app.kubernetes.io/name=rsched, app.kubernetes.io/component=manager,
in all namespaces) the version it is labelled with, its image and its ready replicas. A plugin
whose minor version differs from an operator's is warned about. --client skips the cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := VersionView{Client: version.Get(), Operators: []OperatorView{}}
			if !clientOnly {
				c, _, err := o.client()
				if err == nil {
					v.Operators, err = Operators(cmd.Context(), c)
				}
				if err != nil {
					v.OperatorError = err.Error()
				}
			}
			if done, err := output(o.Out, format, v); done {
				return err
			}
			return v.Table(o.Out, clientOnly)
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", "", "table (default), json or yaml")
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print the plugin's version only")
	return cmd
}

// Operators lists the rsched manager Deployments of every namespace.
func Operators(ctx context.Context, c client.Client) ([]OperatorView, error) {
	var list appsv1.DeploymentList
	if err := c.List(ctx, &list, managerSelector); err != nil {
		return nil, fmt.Errorf("listing the rsched manager Deployments: %w", err)
	}
	out := []OperatorView{}
	for _, d := range list.Items {
		ov := OperatorView{Namespace: d.Namespace, Name: d.Name, Version: d.Labels["app.kubernetes.io/version"]}
		for _, ct := range d.Spec.Template.Spec.Containers {
			if ct.Name == "manager" || len(d.Spec.Template.Spec.Containers) == 1 {
				ov.Image = ct.Image
			}
		}
		replicas := int32(1)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		ov.Ready = fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas)
		out = append(out, ov)
	}
	return out, nil
}

// Table writes the report for people; skew warnings go with it.
func (v VersionView) Table(w io.Writer, clientOnly bool) error {
	if _, err := fmt.Fprintf(w, "Client: %s\n", v.Client); err != nil || clientOnly {
		return err
	}
	switch {
	case v.OperatorError != "":
		_, err := fmt.Fprintf(w, "Operator: unknown (%s)\n", v.OperatorError)
		return err
	case len(v.Operators) == 0:
		_, err := fmt.Fprintln(w, "Operator: no rsched manager Deployment found (labels app.kubernetes.io/name=rsched, app.kubernetes.io/component=manager)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OPERATOR\tVERSION\tIMAGE\tREADY")
	for _, op := range v.Operators {
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\n", op.Namespace, op.Name, orDash(op.Version), op.Image, op.Ready)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, op := range v.Operators {
		if op.Version != "" && minor(op.Version) != minor(v.Client.Version) {
			if _, err := fmt.Fprintf(w, "warning: this plugin is %s and the operator %s/%s is %s: use a plugin of the operator's minor version\n",
				v.Client.Version, op.Namespace, op.Name, op.Version); err != nil {
				return err
			}
		}
	}
	return nil
}

// minor is "v1.2" of "v1.2.3-rc.1".
func minor(v string) string {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// completeNames completes the first argument with the names of the objects list finds in the
// namespace of the kubectl flags: SchedulerInstances for certs and renew, KeyRotationPolicies for
// rotate and keys.
func (o *Options) completeNames(list func(context.Context, client.Client, string) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, ns, err := o.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		names, err := list(cmd.Context(), c, ns)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []cobra.Completion
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func instanceNames(ctx context.Context, c client.Client, ns string) ([]string, error) {
	var l rschedv1.SchedulerInstanceList
	if err := c.List(ctx, &l, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(l.Items))
	for _, i := range l.Items {
		names = append(names, i.Name)
	}
	return names, nil
}

func policyNames(ctx context.Context, c client.Client, ns string) ([]string, error) {
	var l rschedv1.KeyRotationPolicyList
	if err := c.List(ctx, &l, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(l.Items))
	for _, p := range l.Items {
		names = append(names, p.Name)
	}
	return names, nil
}
