package controllers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyprobe"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyringstore"
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

// MetricsObserver scrapes the metrics port of every ready endpoint of the instance's Service
// over HTTPS: the addresses come from its EndpointSlices (read from the API server, not cached:
// they are needed only while a rotation is under way), and each pod's certificate is verified
// against the instance's trust bundle (ConfigMap <instance>-ca) for the Service's name. Targets,
// when set, replaces that lookup (a server that runs outside the cluster).
type MetricsObserver struct {
	Reader client.Reader
	// HTTP, when set, is used instead of a client trusting the instance's bundle.
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
		if o.Reader == nil {
			return nil, errors.New("metrics observer: neither an HTTP client nor a reader for the instance's trust bundle")
		}
		if hc, err = InstanceClient(ctx, o.Reader, si); err != nil {
			return nil, err
		}
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
			out[name] = "https://" + net.JoinHostPort(ep.Addresses[0], strconv.Itoa(builders.MetricsPort)) + "/metrics"
		}
	}
	return out, nil
}

// podsSeen is this reconcile's one observation of the instance's pods (gatherWorkload): every
// step that needs the pods' reports reads it, none scrapes them again.
type podsSeen struct {
	// observer: an observer is configured, so the pods can be asked (even if this time they did
	// not answer).
	observer bool
	// pods is every ready pod's report; nil when not asked, when the observation failed or when
	// no pod answered: "cannot be known".
	pods []PodKeys
}

// workload is what the instance runs, as this reconcile saw it: while a version is staged, its
// Deployment (nil when there is none); and the pods' reports.
type workload struct {
	dep  *appsv1.Deployment
	pods podsSeen
}

// running: a Deployment with replicas, whose pods must load a staged version.
func (w workload) running() bool {
	return w.dep != nil && (w.dep.Spec.Replicas == nil || *w.dep.Spec.Replicas > 0)
}

// gatherWorkload reads the Deployment while a version is staged, and observes the pods once,
// unless nothing this reconcile does would read them (a RollingRestart waiting for its rollout).
func (r *KeyRotationPolicyReconciler) gatherWorkload(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, kr *keyringstore.Keyring) (workload, error) {
	var w workload
	if keyringstore.HasStaged(kr.File) {
		dep := &appsv1.Deployment{}
		missing, err := notFoundOrErr(r.Client.Get(ctx, types.NamespacedName{Namespace: si.Namespace, Name: builders.DeploymentName(si)}, dep))
		if err != nil {
			return w, fmt.Errorf("reading the Deployment: %w", err)
		}
		if !missing {
			w.dep = dep
		}
		if krp.Spec.Rollout == rschedv1.RolloutRollingRestart && w.running() && !rolledOut(dep, keyrotation.KeyVersion(kr.File)) {
			return w, nil
		}
	}
	w.pods = r.observePods(ctx, si)
	return w, nil
}

// observePods asks the observer, if there is one. A failure is "cannot be known", never an error:
// a rotation then relies on time (staging) or keeps keys (retention) instead.
func (r *KeyRotationPolicyReconciler) observePods(ctx context.Context, si *rschedv1.SchedulerInstance) podsSeen {
	if r.Observer == nil {
		return podsSeen{}
	}
	pods, err := r.Observer.Observe(ctx, si)
	if err != nil || len(pods) == 0 {
		return podsSeen{observer: true}
	}
	return podsSeen{observer: true, pods: pods}
}

// requestRestart asks for the pods' restart (rollout RollingRestart) when the staged version
// was staged before the rollout was switched to RollingRestart.
func (r *KeyRotationPolicyReconciler) requestRestart(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, kr *keyringstore.Keyring, w workload) error {
	if krp.Spec.Rollout != rschedv1.RolloutRollingRestart || !w.running() {
		return nil
	}
	if kr.Secret.Annotations[rschedv1.RolloutVersionAnnotation] == strconv.FormatInt(keyrotation.KeyVersion(kr.File), 10) {
		return nil
	}
	return r.keyrings().WriteSecret(ctx, krp, si, kr, kr.File, kr.Request)
}

// propagated reports whether the staged version of f may be activated, and if not how long to
// wait and why (for the Rotating condition), from what the workload showed: with no pod running,
// at once; for RollingRestart once the Deployment has rolled out with the version on its pod
// template; for HotReload when every pod observed has loaded it, or, when the pods cannot be
// read, propagation after stagedAt.
func propagated(krp *rschedv1.KeyRotationPolicy, f *keyring.File, w workload, stagedAt, now time.Time, propagation time.Duration) (bool, time.Duration, string) {
	if !w.running() {
		return true, 0, "" // no pod runs; a pod that starts mounts the new keyring
	}
	// The pods report the file's version (every change raises it); the pod template and the
	// messages carry the key version (the number in the key ids).
	version, keyVersion := f.Version, keyrotation.KeyVersion(f)
	if krp.Spec.Rollout == rschedv1.RolloutRollingRestart {
		if rolledOut(w.dep, keyVersion) {
			return true, 0, ""
		}
		return false, 30 * time.Second, fmt.Sprintf("Keyring version %d is staged; the pods are being restarted to load it", keyVersion)
	}
	if len(w.pods.pods) > 0 {
		// The pods can be read: their word decides, however long it takes. A pod known to be
		// behind (a slow kubelet, a keyring its server refused) must not be overtaken.
		if behind := lagging(w.pods.pods, version); behind != "" {
			return false, time.Second, fmt.Sprintf("Keyring version %d is staged; pod %s has not loaded it yet", keyVersion, behind)
		}
		return true, 0, ""
	}
	// The pods cannot be read: allow the time a mounted Secret takes to reach them.
	deadline := stagedAt.Add(propagation)
	if !now.Before(deadline) {
		return true, 0, ""
	}
	wait := deadline.Sub(now)
	if w.pods.observer {
		wait = min(wait, time.Second)
	}
	return false, wait, fmt.Sprintf("Keyring version %d is staged; waiting for every pod to load it", keyVersion)
}

// reportLaggingPods keeps Rotating True after an activation (or a retirement) until every pod the
// observer can read has loaded the keyring f: until then a pod still signs or encrypts with the
// previous key (safe: that key stays valid for the grace period), and the condition says so
// instead of claiming the rotation is complete. Without an observer, or when the pods cannot be
// read, nothing is claimed either way.
func reportLaggingPods(pods podsSeen, f *keyring.File, st *policyStatus) {
	if behind := lagging(pods.pods, f.Version); behind != "" {
		st.rotating(fmt.Sprintf("Keyring version %d is active; pod %s has not loaded it yet", keyrotation.KeyVersion(f), behind))
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

// drained says, from the pods' reports, whether the data under old encryption keys has been
// re-encrypted. Every ready pod must report a finished re-encryption pass under the current active
// key that left nothing pending and nothing failed. Each pod's pass starts after that pod loaded
// the key and covers the whole database, so the pass of the pod that loaded it last ran when no
// pod wrote under an older key any more: nothing is left under one. No pod clocks are compared.
// Anything less, or no report, is "cannot be known" (nil), and the keys are kept.
func drained(pods podsSeen, f *keyring.File) func(string) bool {
	if len(pods.pods) == 0 {
		return nil
	}
	active := ""
	for _, k := range f.Encryption {
		if k.State == keyring.Active {
			active = k.KID
		}
	}
	for _, p := range pods.pods {
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

// InstanceClient is an HTTPS client for the instance's pods: it trusts the instance's bundle
// (ConfigMap <instance>-ca), or the system roots when there is none and the certificate is not
// the operator's (tls.secretRef or tls.issuerRef without a ca.crt), and verifies the Service's name (the pods are dialled by
// address). Never InsecureSkipVerify.
func InstanceClient(ctx context.Context, r client.Reader, si *rschedv1.SchedulerInstance) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: builders.ServiceHost(si)}
	cm := &corev1.ConfigMap{}
	err := r.Get(ctx, types.NamespacedName{Namespace: si.Namespace, Name: builders.CABundleName(si)}, cm)
	switch {
	case apierrors.IsNotFound(err) && (si.Spec.TLS.SecretRef != nil || si.Spec.TLS.IssuerRef != nil):
		// The system roots.
	case err != nil:
		return nil, fmt.Errorf("reading the trust bundle %s: %w", builders.CABundleName(si), err)
	default:
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM([]byte(cm.Data[builders.CABundleKey])) {
			return nil, fmt.Errorf("the trust bundle %s holds no certificate under %s", builders.CABundleName(si), builders.CABundleKey)
		}
	}
	// A new transport each time: the bundle may have changed since the last observation, and
	// observations are rare (during a rotation). Keep-alives off, so no connection outlives it.
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}, nil
}
