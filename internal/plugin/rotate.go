package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

func (o *Options) rotateCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rotate POLICY",
		Short: "Rotate a KeyRotationPolicy's keys now and follow the rotation until the new keys are active",
		Long: `rotate sets the scheduling.rsched.io/rotate annotation of the policy to a new value, which
asks the operator for one rotation (also while the policy is suspended), and follows the policy's
status: taken, staged on every pod, active. It exits 0 when the new version is active, and 1 when
the rotation fails or does not finish within --timeout (the operator goes on trying after a
failure; kubectl rsched status shows what happens).`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeNames(policyNames),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			poll := o.Poll
			if poll <= 0 {
				poll = 500 * time.Millisecond
			}
			return Rotate(ctx, c, client.ObjectKey{Namespace: ns, Name: args[0]}, o.Out, o.now, poll)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to follow the rotation")
	return cmd
}

// rotationState is what the policy's status says about one rotate request.
type rotationState int

const (
	waiting rotationState = iota // the operator has not taken the request yet
	taken                        // it has: a new version is being staged
	staged                       // the new version is on every pod, not yet active
	active                       // the new version is active
	failed                       // a failure was counted since the request
)

// stateOf reads the policy's status for the request value req, made when the policy had
// `before` as its status.
func stateOf(k *rschedv1.KeyRotationPolicy, req string, before rschedv1.KeyRotationPolicyStatus) rotationState {
	st := k.Status
	if st.FailedAttempts > before.FailedAttempts || (st.LastFailureTime != nil && (before.LastFailureTime == nil || st.LastFailureTime.After(before.LastFailureTime.Time))) {
		return failed
	}
	if st.LastRotateRequest != req {
		return waiting
	}
	rotating := meta.FindStatusCondition(st.Conditions, rschedv1.ConditionRotating)
	switch {
	case rotating != nil && rotating.Status == metav1.ConditionTrue:
		return staged
	case st.CurrentVersion > before.CurrentVersion:
		return active
	}
	return taken
}

// Rotate requests one rotation of the policy at key and reports its progress to out until the
// new version is active (nil), a failure is counted (an error), or ctx ends (an error).
func Rotate(ctx context.Context, c client.Client, key client.ObjectKey, out io.Writer, now func() time.Time, poll time.Duration) error {
	var k rschedv1.KeyRotationPolicy
	if err := c.Get(ctx, key, &k); err != nil {
		return err
	}
	before := *k.Status.DeepCopy()
	req := requestID(now())
	patch := client.MergeFrom(k.DeepCopy())
	if k.Annotations == nil {
		k.Annotations = map[string]string{}
	}
	k.Annotations[rschedv1.RotateAnnotation] = req
	if err := c.Patch(ctx, &k, patch); err != nil {
		return fmt.Errorf("setting %s: %w", rschedv1.RotateAnnotation, err)
	}
	start := now()
	fmt.Fprintf(out, "requested a rotation of %s/%s (version %d now)\n", key.Namespace, key.Name, before.CurrentVersion)
	last := waiting
	for {
		state := stateOf(&k, req, before)
		if state == failed {
			msg := "the rotation failed"
			if r := meta.FindStatusCondition(k.Status.Conditions, rschedv1.ConditionReady); r != nil && r.Status == metav1.ConditionFalse {
				msg = r.Reason + ": " + r.Message
			}
			return fmt.Errorf("%s/%s: %s (the keys in use stay valid; the operator retries)", key.Namespace, key.Name, msg)
		}
		// Report every step reached since the last look, so a fast operator does not hide one.
		at := now().Sub(start).Round(100 * time.Millisecond)
		for s := last + 1; s <= state; s++ {
			switch s {
			case taken:
				fmt.Fprintf(out, "  %6s  taken by the operator\n", at)
			case staged:
				if state == staged {
					fmt.Fprintf(out, "  %6s  staged: the new keys are being delivered to every pod\n", at)
				}
			case active:
				fmt.Fprintf(out, "  %6s  active: version %d\n", at, k.Status.CurrentVersion)
				return nil
			}
		}
		if state > last {
			last = state
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s/%s: the rotation did not finish in time (last state: %s); kubectl rsched status shows why", key.Namespace, key.Name, last)
			}
			return ctx.Err()
		case <-time.After(poll):
		}
		if err := c.Get(ctx, key, &k); err != nil {
			return err
		}
	}
}

func (s rotationState) String() string {
	return [...]string{"waiting for the operator", "taken", "staged", "active", "failed"}[s]
}
