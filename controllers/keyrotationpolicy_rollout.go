package controllers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyprobe"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyrotation"
)

// KeyObserver reports what the instance's ready pods have loaded, from their metrics endpoints.
type KeyObserver interface {
	Observe(ctx context.Context, si *rschedv1.SchedulerInstance) ([]PodKeys, error)
}

// PodKeys is one pod's report.
type PodKeys struct {
	Pod    string
	Report *keyprobe.Report
}

// MetricsObserver scrapes the metrics port of every ready endpoint of the instance's Service:
// the addresses come from its EndpointSlices (read from the API server, not cached: they are
// needed only while a rotation is under way). Targets, when set, replaces that lookup (a server
// that runs outside the cluster).
type MetricsObserver struct {
	Reader  client.Reader
	HTTP    *http.Client
	Targets func(ctx context.Context, si *rschedv1.SchedulerInstance) (map[string]string, error)
}

// Observe scrapes every ready pod; any failure makes the whole observation fail, because a
// rotation may only rely on it when every pod answered.
func (o *MetricsObserver) Observe(ctx context.Context, si *rschedv1.SchedulerInstance) ([]PodKeys, error) {
	targets, err := o.targets(ctx, si)
	if err != nil {
		return nil, err
	}
	hc := o.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Second}
	}
	out := make([]PodKeys, 0, len(targets))
	for pod, url := range targets {
		rep, err := keyprobe.Scrape(ctx, hc, url)
		if err != nil {
			return nil, fmt.Errorf("pod %s: %w", pod, err)
		}
		out = append(out, PodKeys{Pod: pod, Report: rep})
	}
	return out, nil
}

func (o *MetricsObserver) targets(ctx context.Context, si *rschedv1.SchedulerInstance) (map[string]string, error) {
	if o.Targets != nil {
		return o.Targets(ctx, si)
	}
	list := &discoveryv1.EndpointSliceList{}
	if err := o.Reader.List(ctx, list, client.InNamespace(si.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: builders.ServiceName(si)}); err != nil {
		return nil, fmt.Errorf("listing the endpoints of Service %s: %w", builders.ServiceName(si), err)
	}
	out := map[string]string{}
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			if len(ep.Addresses) == 0 {
				continue
			}
			name := ep.Addresses[0]
			if ep.TargetRef != nil {
				name = ep.TargetRef.Name
			}
			out[name] = "http://" + net.JoinHostPort(ep.Addresses[0], strconv.Itoa(builders.MetricsPort)) + "/metrics"
		}
	}
	return out, nil
}

// propagated reports whether the staged version may be activated, and if not how long to wait
// and why (for the Rotating condition).
func (r *KeyRotationPolicyReconciler) propagated(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, kr *storedKeyring, stagedAt, now time.Time) (bool, time.Duration, string, error) {
	dep := &appsv1.Deployment{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: si.Namespace, Name: builders.DeploymentName(si)}, dep)
	missing, err := notFoundOrErr(err)
	if err != nil {
		return false, 0, "", fmt.Errorf("reading the Deployment: %w", err)
	}
	if missing || (dep.Spec.Replicas != nil && *dep.Spec.Replicas == 0) {
		return true, 0, "", nil // no pod runs; a pod that starts mounts the new keyring
	}
	// The pods report the file's version (every change raises it); the pod template and the
	// messages carry the key version (the number in the key ids).
	version, keyVersion := kr.file.Version, keyrotation.KeyVersion(kr.file)
	if krp.Spec.Rollout == rschedv1.RolloutRollingRestart {
		if kr.secret.Annotations[rschedv1.RolloutVersionAnnotation] != strconv.FormatInt(keyVersion, 10) {
			// Staged before the rollout was switched to RollingRestart: ask for the restart now.
			if err := r.writeSecret(ctx, krp, si, kr, kr.file, kr.request); err != nil {
				return false, 0, "", err
			}
		}
		if rolledOut(dep, keyVersion) {
			return true, 0, "", nil
		}
		return false, 30 * time.Second, fmt.Sprintf("Keyring version %d is staged; the pods are being restarted to load it", keyVersion), nil
	}
	if r.Observer != nil {
		pods, err := r.Observer.Observe(ctx, si)
		if err == nil && len(pods) > 0 {
			// The pods can be read: their word decides, however long it takes. A pod known to
			// be behind (a slow kubelet, a keyring its server refused) must not be overtaken.
			if behind := lagging(pods, version); behind != "" {
				return false, time.Second, fmt.Sprintf("Keyring version %d is staged; pod %s has not loaded it yet", keyVersion, behind), nil
			}
			return true, 0, "", nil
		}
	}
	// The pods cannot be read: allow the time a mounted Secret takes to reach them.
	deadline := stagedAt.Add(r.propagation())
	if !now.Before(deadline) {
		return true, 0, "", nil
	}
	wait := deadline.Sub(now)
	if r.Observer != nil {
		wait = min(wait, time.Second)
	}
	return false, wait, fmt.Sprintf("Keyring version %d is staged; waiting for every pod to load it", keyVersion), nil
}

// reportLaggingPods keeps Rotating True after an activation (or a retirement) until every pod the
// observer can read has loaded the keyring in the Secret: until then a pod still signs or
// encrypts with the previous key (safe: that key stays valid for the grace period), and the
// condition says so instead of claiming the rotation is complete. Without an observer, or when
// the pods cannot be read, nothing is claimed either way.
func (r *KeyRotationPolicyReconciler) reportLaggingPods(ctx context.Context, si *rschedv1.SchedulerInstance, kr *storedKeyring, st *policyStatus) {
	if r.Observer == nil {
		return
	}
	pods, err := r.Observer.Observe(ctx, si)
	if err != nil || len(pods) == 0 {
		return
	}
	if behind := lagging(pods, kr.file.Version); behind != "" {
		st.rotating(fmt.Sprintf("Keyring version %d is active; pod %s has not loaded it yet", keyrotation.KeyVersion(kr.file), behind))
		st.requeue(time.Second)
	}
}

// rolledOut: the Deployment's pod template carries the key version and every replica runs it.
func rolledOut(dep *appsv1.Deployment, version int64) bool {
	if dep.Spec.Template.Annotations[rschedv1.KeyVersionAnnotation] != strconv.FormatInt(version, 10) {
		return false
	}
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	s := dep.Status
	return s.ObservedGeneration >= dep.Generation && s.UpdatedReplicas >= want && s.AvailableReplicas >= want && s.Replicas == s.UpdatedReplicas
}

// lagging names a pod that has not loaded version ("" when every one has).
func lagging(pods []PodKeys, version int64) string {
	for _, p := range pods {
		if p.Report == nil || !p.Report.HasKeyring || p.Report.KeyringVersion < version {
			return p.Pod
		}
	}
	return ""
}

// needsObservation: an encryption key beyond retain waits for the server to report it drained.
func needsObservation(f *keyring.File, retain int) bool {
	counts := map[string]int{}
	for _, k := range f.Encryption {
		if k.State == keyring.DecryptOnly {
			name, _ := splitKID(k.KID)
			counts[name]++
			if counts[name] > retain {
				return true
			}
		}
	}
	return false
}

// drained asks the pods whether the data under old encryption keys has been re-encrypted. Every
// ready pod must report a finished re-encryption pass under the current active key that left
// nothing pending and nothing failed. Each pod's pass starts after that pod loaded the key and
// covers the whole database, so the pass of the pod that loaded it last ran when no pod wrote
// under an older key any more: nothing is left under one. No pod clocks are compared. Anything
// less, or no observer, is "cannot be known" (nil), and the keys are kept.
func (r *KeyRotationPolicyReconciler) drained(ctx context.Context, si *rschedv1.SchedulerInstance, f *keyring.File) func(string) bool {
	if r.Observer == nil {
		return nil
	}
	pods, err := r.Observer.Observe(ctx, si)
	if err != nil || len(pods) == 0 {
		return nil
	}
	active := ""
	for _, k := range f.Encryption {
		if k.State == keyring.Active {
			active = k.KID
		}
	}
	for _, p := range pods {
		if p.Report == nil {
			return nil
		}
		rw := p.Report.Rewrap
		if rw == nil || rw.ActiveKID != active || rw.Pending != 0 || rw.Failed != 0 {
			return nil
		}
	}
	return func(kid string) bool { return kid != active }
}
