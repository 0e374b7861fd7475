package controllers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	ctrlcfg "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/testenv"
	"github.com/rsched/rsched/internal/vault"
)

var kube *testenv.Kube

func TestMain(m *testing.M) {
	k, err := testenv.NewKube()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kube = k
	code := m.Run()
	_ = k.Stop()
	os.Exit(code)
}

// writes counts the reconciler's write requests to the API server.
type writes struct {
	n    atomic.Int64
	mu   sync.Mutex
	what []string
	ns   []string
}

func (w *writes) add(verb string, obj client.Object) {
	w.n.Add(1)
	w.mu.Lock()
	w.what = append(w.what, fmt.Sprintf("%s %T %s", verb, obj, obj.GetName()))
	w.ns = append(w.ns, obj.GetNamespace())
	w.mu.Unlock()
}

func (w *writes) since(i int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.what[i:]...)
}

// sinceIn is since for the objects of one namespace: a test's operator also reconciles what
// earlier tests left in theirs (envtest runs no namespace controller, so nothing is ever
// deleted), and their writes are not this test's.
func (w *writes) sinceIn(i int, ns string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for k := i; k < len(w.what); k++ {
		if w.ns[k] == ns {
			out = append(out, w.what[k])
		}
	}
	return out
}

func (w *writes) funcs() interceptor.Funcs {
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			w.add("create", obj)
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			w.add("update", obj)
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			w.add("patch", obj)
			return c.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			w.add("delete", obj)
			return c.Delete(ctx, obj, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			w.add(sub+" update", obj)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			w.add(sub+" patch", obj)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	}
}

// operator is a running manager with the SchedulerInstance reconciler, cached as in production.
type operator struct {
	writes *writes
	logs   *syncBuffer
	stop   func()
}

type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

const testImage = "registry.example.org/rsched/scheduler:v1.2.3"

func startOperator(t testing.TB, namespaces ...string) *operator {
	t.Helper()
	return startOperatorWith(t, nil, namespaces...)
}

// startOperatorWith also lets a test set up the KeyRotationPolicy reconciler (an observer, the
// propagation time; 2s by default here, the pods being simulated or absent).
func startOperatorWith(t testing.TB, keys func(*KeyRotationPolicyReconciler), namespaces ...string) *operator {
	t.Helper()
	ours, err := labels.Parse(builders.LabelManagedBy + "=" + builders.ManagedBy)
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]cache.Config{}
	for _, ns := range namespaces {
		defaults[ns] = cache.Config{}
	}
	op := &operator{writes: &writes{}, logs: &syncBuffer{}}
	log := zap.New(zap.WriteTo(op.logs), zap.UseDevMode(false))
	mgr, err := ctrl.NewManager(kube.Config, ctrl.Options{
		Scheme:     kube.Scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Logger:     log,
		Controller: ctrlcfg.Controller{SkipNameValidation: &skipNameValidation}, // several managers per test binary
		Cache: cache.Options{
			DefaultNamespaces: defaults,
			DefaultTransform:  cache.TransformStripManagedFields(),
			ByObject:          byObject(ours),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := interceptor.NewClient(noWatch{mgr.GetClient()}, op.writes.funcs())
	r := &SchedulerInstanceReconciler{
		Client: c, APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("rsched-operator"),
		Vault:    vault.NewFactory(TokenSource(mgr.GetClient()), nil),
		Clock:    clock.RealClock{},
		Options:  Options{SchedulerImage: testImage, OperatorNamespace: "rsched-system"},
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	kr := &KeyRotationPolicyReconciler{
		Client: c, APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("rsched-operator"), Vault: r.Vault, Clock: clock.RealClock{},
		Propagation: 2 * time.Second,
	}
	if keys != nil {
		keys(kr)
	}
	if err := kr.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	op.stop = runManager(t, mgr, nil)
	return op
}

// runManager starts mgr after setup (when given) has run with the manager's context, and returns
// a stop function, also registered with t.Cleanup, that cancels it and waits for it to return.
func runManager(t testing.TB, mgr ctrl.Manager, setup func(ctx context.Context) error) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if setup != nil {
		if err := setup(ctx); err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func startOperatorB(b *testing.B) *operator { return startOperator(b) }

// byObject is the production cache restriction; cacheEverything (set only by the heap benchmark's
// control run) caches every Secret, to show the measurement sees the difference.
var cacheEverything bool

func byObject(ours labels.Selector) map[client.Object]cache.ByObject {
	if cacheEverything {
		return nil
	}
	return map[client.Object]cache.ByObject{
		&corev1.Secret{}:    {Label: ours},
		&corev1.ConfigMap{}: {Label: ours},
	}
}

// namespace creates a fresh namespace for one test.
var nsCount atomic.Int32

func namespace(t testing.TB, lbls map[string]string) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%d", os.Getpid()%1000, nsCount.Add(1))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}
	if err := kube.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return name
}

var skipNameValidation = true

// noWatch lets the manager's client pass where the interceptor wants a WithWatch; the reconciler
// never watches through it (the manager's informers do).
type noWatch struct{ client.Client }

func (noWatch) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, errors.New("watch through the reconciler's client is not supported")
}
