package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// Options are what every command shares: kubectl's connection flags and the output streams.
type Options struct {
	Flags *genericclioptions.ConfigFlags
	genericclioptions.IOStreams
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
	// Poll is how often rotate and renew read the object they follow (default 500 ms).
	Poll time.Duration
}

// NewCommand is `kubectl rsched`.
func NewCommand(streams genericclioptions.IOStreams) *cobra.Command {
	o := &Options{Flags: genericclioptions.NewConfigFlags(true), IOStreams: streams}
	root := &cobra.Command{
		Use:           "kubectl-rsched",
		Short:         "Inspect rsched's SchedulerInstances and KeyRotationPolicies, rotate keys and renew certificates",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	o.Flags.AddFlags(root.PersistentFlags())
	root.AddCommand(o.statusCommand(), o.rotateCommand(), o.keysCommand(), o.certsCommand(), o.renewCommand(), o.versionCommand())
	return root
}

func (o *Options) client() (client.Client, string, error) {
	cfg, err := o.Flags.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	scheme := runtime.NewScheme()
	// corev1 for the trust bundle's ConfigMap (certs), appsv1 for the manager Deployments (version);
	// the plugin never reads a Secret.
	for _, add := range []func(*runtime.Scheme) error{rschedv1.AddToScheme, corev1.AddToScheme, appsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, "", err
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", err
	}
	ns, _, err := o.Flags.ToRawKubeConfigLoader().Namespace()
	return c, ns, err
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// output writes v as JSON or YAML; false when format asks for the table.
func output(w io.Writer, format string, v any) (bool, error) {
	switch format {
	case "", "table", "wide":
		return false, nil
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return true, err
		}
		_, err = fmt.Fprintln(w, string(b))
		return true, err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return true, err
		}
		_, err = w.Write(b)
		return true, err
	}
	return true, fmt.Errorf("--output must be table, json or yaml, not %q", format)
}

// Problem is a condition that says something is wrong.
type Problem struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Condition string `json:"condition"`
	Reason    string `json:"reason"`
	Message   string `json:"message"`
}

// problems lists the conditions of an object that need attention: Ready (or any other positive
// condition) False, or Degraded True.
func problems(kind, ns, name string, conds []metav1.Condition) []Problem {
	var out []Problem
	for _, c := range conds {
		bad := c.Status == metav1.ConditionFalse && c.Type != rschedv1.ConditionProgressing && c.Type != rschedv1.ConditionRotating
		if c.Type == rschedv1.ConditionDegraded {
			bad = c.Status == metav1.ConditionTrue
		}
		if bad {
			out = append(out, Problem{Kind: kind, Namespace: ns, Name: name, Condition: c.Type + "=" + string(c.Status), Reason: c.Reason, Message: c.Message})
		}
	}
	return out
}

func ready(conds []metav1.Condition) string {
	c := meta.FindStatusCondition(conds, rschedv1.ConditionReady)
	if c == nil {
		return "Unknown"
	}
	if c.Status == metav1.ConditionTrue {
		return "True"
	}
	return "False (" + c.Reason + ")"
}

func ago(now time.Time, t *metav1.Time) string {
	if t == nil {
		return "-"
	}
	return shortDuration(now.Sub(t.Time)) + " ago"
}

func until(now time.Time, t *metav1.Time) string {
	if t == nil {
		return "-"
	}
	d := t.Sub(now)
	if d < 0 {
		return "due " + shortDuration(-d) + " ago"
	}
	return "in " + shortDuration(d)
}

// shortDuration is kubectl's style: 45s, 12m, 5h, 3d.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// InstanceView is one SchedulerInstance in `status`.
type InstanceView struct {
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Ready      string `json:"ready"`
	Replicas   string `json:"replicas"`
	KeyVersion int64  `json:"keyVersion"`
	Endpoint   string `json:"endpoint,omitempty"`
}

// PolicyView is one KeyRotationPolicy in `status`.
type PolicyView struct {
	Namespace      string       `json:"namespace"`
	Name           string       `json:"name"`
	Target         string       `json:"target"`
	Ready          string       `json:"ready"`
	Version        int64        `json:"version"`
	LastRotation   *metav1.Time `json:"lastRotation,omitempty"`
	NextRotation   *metav1.Time `json:"nextRotation,omitempty"`
	Suspended      bool         `json:"suspended"`
	FailedAttempts int32        `json:"failedAttempts,omitempty"`
}

// StatusView is the whole `status` answer.
type StatusView struct {
	Instances []InstanceView `json:"instances"`
	Policies  []PolicyView   `json:"policies"`
	Problems  []Problem      `json:"problems"`
}

func (o *Options) statusCommand() *cobra.Command {
	var all bool
	var format string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "SchedulerInstances and KeyRotationPolicies in one view, with what needs attention",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			if all {
				ns = ""
			}
			v, err := Status(cmd.Context(), c, ns)
			if err != nil {
				return err
			}
			if done, err := output(o.Out, format, v); done {
				return err
			}
			return v.Table(o.Out, o.now(), all)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "all namespaces")
	cmd.Flags().StringVarP(&format, "output", "o", "table", "table, json or yaml")
	return cmd
}

// Status reads the instances and policies of ns ("" for all namespaces).
func Status(ctx context.Context, c client.Client, ns string) (*StatusView, error) {
	var sis rschedv1.SchedulerInstanceList
	if err := c.List(ctx, &sis, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing SchedulerInstances: %w", err)
	}
	var krps rschedv1.KeyRotationPolicyList
	if err := c.List(ctx, &krps, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing KeyRotationPolicies: %w", err)
	}
	v := &StatusView{Instances: []InstanceView{}, Policies: []PolicyView{}, Problems: []Problem{}}
	for _, si := range sis.Items {
		st := si.Status
		replicas := st.ReplicaSummary
		if replicas == "" {
			replicas = "-"
		}
		v.Instances = append(v.Instances, InstanceView{Namespace: si.Namespace, Name: si.Name, Ready: ready(st.Conditions), Replicas: replicas,
			KeyVersion: st.KeyVersion, Endpoint: st.Endpoint})
		v.Problems = append(v.Problems, problems("SchedulerInstance", si.Namespace, si.Name, st.Conditions)...)
	}
	for _, k := range krps.Items {
		st := k.Status
		v.Policies = append(v.Policies, PolicyView{Namespace: k.Namespace, Name: k.Name, Target: k.Spec.TargetRef.Name, Ready: ready(st.Conditions),
			Version: st.CurrentVersion, LastRotation: st.LastRotationTime, NextRotation: st.NextRotationTime, Suspended: k.Spec.Suspend,
			FailedAttempts: st.FailedAttempts})
		v.Problems = append(v.Problems, problems("KeyRotationPolicy", k.Namespace, k.Name, st.Conditions)...)
	}
	return v, nil
}

// Table writes the view as kubectl-style tables.
func (v *StatusView) Table(w io.Writer, now time.Time, withNamespace bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	col := func(ns string, rest ...string) {
		if withNamespace {
			rest = append([]string{ns}, rest...)
		}
		fmt.Fprintln(tw, strings.Join(rest, "\t"))
	}
	if len(v.Instances) == 0 && len(v.Policies) == 0 {
		fmt.Fprintln(w, "No SchedulerInstances or KeyRotationPolicies found.")
		return nil
	}
	if len(v.Instances) > 0 {
		col("NAMESPACE", "INSTANCE", "READY", "REPLICAS", "KEY VERSION", "ENDPOINT")
		for _, i := range v.Instances {
			col(i.Namespace, i.Name, i.Ready, i.Replicas, fmt.Sprint(i.KeyVersion), i.Endpoint)
		}
		fmt.Fprintln(tw)
	}
	if len(v.Policies) > 0 {
		col("NAMESPACE", "POLICY", "TARGET", "READY", "VERSION", "LAST ROTATION", "NEXT ROTATION")
		for _, p := range v.Policies {
			next := until(now, p.NextRotation)
			if p.Suspended {
				next = "suspended"
			}
			col(p.Namespace, p.Name, p.Target, p.Ready, fmt.Sprint(p.Version), ago(now, p.LastRotation), next)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(v.Problems) > 0 {
		fmt.Fprintln(w, "\nNeeds attention:")
		for _, p := range v.Problems {
			fmt.Fprintf(w, "  %s %s/%s: %s %s: %s\n", p.Kind, p.Namespace, p.Name, p.Condition, p.Reason, p.Message)
		}
	}
	return nil
}

func (o *Options) keysCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:               "keys POLICY",
		Short:             "The key versions of a KeyRotationPolicy with their states (never key material)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeNames(policyNames),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			var k rschedv1.KeyRotationPolicy
			if err := c.Get(cmd.Context(), client.ObjectKey{Namespace: ns, Name: args[0]}, &k); err != nil {
				return err
			}
			keys := k.Status.Keys
			if keys == nil {
				keys = []rschedv1.KeyStatus{}
			}
			if done, err := output(o.Out, format, keys); done {
				return err
			}
			return KeysTable(o.Out, o.now(), keys)
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", "table", "table, json or yaml")
	return cmd
}

// KeysTable writes the versions of every key, newest first.
func KeysTable(w io.Writer, now time.Time, keys []rschedv1.KeyStatus) error {
	if len(keys) == 0 {
		_, err := fmt.Fprintln(w, "No keys recorded yet: the operator has not reconciled the policy.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVERSION\tSTATE\tCREATED\tEXPIRES")
	for _, k := range keys {
		vs := slices.Clone(k.Versions)
		slices.SortFunc(vs, func(a, b rschedv1.KeyVersionStatus) int { return int(b.Version - a.Version) })
		for _, v := range vs {
			expires := "-"
			if v.ExpiresAt != nil {
				expires = until(now, v.ExpiresAt)
			}
			state := string(v.State)
			if v.Version == k.ActiveVersion && v.State != rschedv1.KeyStateActive {
				state += " (active)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", k.Name, v.Version, state, ago(now, &v.CreatedAt), expires)
		}
	}
	return tw.Flush()
}
