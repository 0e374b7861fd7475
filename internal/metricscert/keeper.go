package metricscert

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rsched/rsched/internal/backoff"
	"github.com/rsched/rsched/internal/pki"
)

// Config names the objects and the directory a Keeper keeps.
type Config struct {
	// Namespace is the manager's own namespace; SecretName and ConfigMapName live in it.
	Namespace, SecretName, ConfigMapName string
	// Dir is where tls.crt and tls.key are written for the metrics server's certificate watcher.
	Dir    string
	Policy Policy
	// Labels go on both objects, except where the object already has the key: an install that
	// created them (the chart's app.kubernetes.io/managed-by: Helm) keeps its own.
	Labels map[string]string
	// Clock: the real one when nil.
	Clock clock.Clock
	Log   logr.Logger
}

// Keeper keeps the metrics certificate: Sync once before the metrics server starts, then Start
// (a manager Runnable on every replica: each one serves its own metrics endpoint).
type Keeper struct {
	c     client.Client
	cfg   Config
	clock clock.Clock
	files *dirWriter
}

// New is a Keeper writing through c, which must read the API server directly (no cache: the
// manager's cache holds no Secret of its own namespace unless it is watched, and a stale copy
// would renew for nothing).
func New(c client.Client, cfg Config) *Keeper {
	clk := cfg.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Keeper{c: c, cfg: cfg, clock: clk, files: &dirWriter{dir: cfg.Dir, clock: clk}}
}

// Resync bounds the wait between two Syncs, so that a deleted or edited object is repaired and a
// renewal by another replica is picked up within it even when nothing is due here.
const Resync = 5 * time.Minute

// retry is the backoff after failed Syncs.
var retry = backoff.Exponential{Base: 5 * time.Second, Max: Resync}

// maxRounds bounds one Sync: a conflict with another replica reads again; a fresh install takes
// three actions (IssueCA, PublishBundle, IssueLeaf) and a CA renewal two.
const maxRounds = 8

// Result is what one Sync found and did.
type Result struct {
	// Performed are the actions taken, in order.
	Performed []pki.Decision
	// Next is when to look again (pki's wait, at most Resync).
	Next time.Duration
	// Serial is the serial of the leaf now in Dir.
	Serial string
}

// Sync reads the objects, acts until the chain says wait, and writes the leaf into Dir.
func (k *Keeper) Sync(ctx context.Context) (Result, error) {
	var res Result
	for range maxRounds {
		sec, cm, err := k.read(ctx)
		if err != nil {
			return res, err
		}
		st := decode(sec.Data, cm.Data[BundleKey])
		now := k.clock.Now()
		d := pki.Decide(st.input(k.cfg.Policy, now))
		if d.Action == pki.Nothing {
			return k.settle(res, st, d)
		}
		which, err := apply(&st, d, k.cfg.Policy, now)
		if err != nil {
			return res, fmt.Errorf("%s (%s): %w", d.Action, d.Reason, err)
		}
		err = k.write(ctx, which, st, sec, cm)
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
			continue // another replica wrote first: decide again on what it wrote
		}
		if err != nil {
			return res, fmt.Errorf("%s (%s): %w", d.Action, d.Reason, err)
		}
		res.Performed = append(res.Performed, d)
	}
	return res, fmt.Errorf("the metrics certificate did not settle after %d rounds", maxRounds)
}

// settle writes the settled leaf into Dir and says when to look again.
func (k *Keeper) settle(res Result, st state, d pki.Decision) (Result, error) {
	data, err := st.secretData()
	if err != nil {
		return res, err
	}
	if err := k.files.update(map[string][]byte{TLSCertKey: data[TLSCertKey], TLSKeyKey: data[TLSKeyKey]}); err != nil {
		return res, fmt.Errorf("writing the metrics certificate into %s: %w", k.cfg.Dir, err)
	}
	res.Next = Resync
	if d.After > 0 && d.After < Resync {
		res.Next = d.After
	}
	res.Serial = st.leaf.Cert.SerialNumber.Text(16)
	return res, nil
}

// read gets both objects; an absent one is returned empty, without a resourceVersion.
func (k *Keeper) read(ctx context.Context) (*corev1.Secret, *corev1.ConfigMap, error) {
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: k.cfg.Namespace, Name: k.cfg.SecretName}, Type: corev1.SecretTypeOpaque}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: k.cfg.Namespace, Name: k.cfg.ConfigMapName}}
	for _, o := range []client.Object{sec, cm} {
		err := k.c.Get(ctx, client.ObjectKeyFromObject(o), o)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("reading %s/%s: %w", k.cfg.Namespace, o.GetName(), err)
		}
	}
	return sec, cm, nil
}

// write stores the changed object: created when read found none, else updated with the
// resourceVersion read, so a concurrent replica's write makes it fail instead of being lost.
func (k *Keeper) write(ctx context.Context, which object, st state, sec *corev1.Secret, cm *corev1.ConfigMap) error {
	var obj client.Object
	switch which {
	case theSecret:
		data, err := st.secretData()
		if err != nil {
			return err
		}
		sec.Data, sec.StringData = data, nil
		obj = sec
	case theConfigMap:
		cm.Data, cm.BinaryData = map[string]string{BundleKey: string(pki.EncodeCertificates(st.bundle...))}, nil
		obj = cm
	}
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	for key, v := range k.cfg.Labels {
		if _, ok := labels[key]; !ok {
			labels[key] = v
		}
	}
	obj.SetLabels(labels)
	if obj.GetResourceVersion() == "" {
		return k.c.Create(ctx, obj)
	}
	return k.c.Update(ctx, obj)
}

// Start keeps the certificate until ctx ends: a Sync at each due point (at most Resync apart),
// and after a failure again after a backoff, the last good leaf staying in Dir meanwhile.
func (k *Keeper) Start(ctx context.Context) error {
	failures := 0
	wait := time.Duration(0)
	for {
		t := k.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
		res, err := k.Sync(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			failures++
			wait = retry.After(failures)
			k.cfg.Log.Error(err, "keeping the metrics certificate failed; the last good one is still served", "retryIn", wait)
			continue
		}
		failures, wait = 0, res.Next
		for _, d := range res.Performed {
			k.cfg.Log.Info("metrics certificate", "action", d.Action, "reason", d.Reason, "serial", res.Serial)
		}
	}
}

// NeedLeaderElection is false: every replica serves metrics, so every replica keeps its files.
func (k *Keeper) NeedLeaderElection() bool { return false }
