package controllers

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// converged counts the instances of ns whose secrets are synced and whose Deployment exists.
func converged(ns string) (int, error) {
	var list rschedv1.SchedulerInstanceList
	if err := kube.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	var deps appsv1.DeploymentList
	if err := kube.Client.List(context.Background(), &deps, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	have := map[string]bool{}
	for _, d := range deps.Items {
		have[d.Name] = true
	}
	n := 0
	for _, si := range list.Items {
		if meta.IsStatusConditionTrue(si.Status.Conditions, rschedv1.ConditionSecretsSynced) && have[si.Name] &&
			si.Status.ObservedGeneration == si.Generation {
			n++
		}
	}
	return n, nil
}

// BenchmarkConverge200Instances creates 200 instances at once and measures the time until every
// one has its objects and status, and the write requests the reconciler made per instance.
func BenchmarkConverge200Instances(b *testing.B) {
	const count = 200
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ns := namespace(b, nil)
		op := startOperatorB(b)
		for j := range count {
			name := fmt.Sprintf("si-%03d", j)
			src := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-db-source", Namespace: ns}, StringData: map[string]string{"url": dbURL}}
			if err := kube.Client.Create(context.Background(), src); err != nil {
				b.Fatal(err)
			}
		}
		before := op.writes.n.Load()
		start := time.Now()
		b.StartTimer()
		var wg sync.WaitGroup
		for j := range count {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := kube.Client.Create(context.Background(), instance(ns, fmt.Sprintf("si-%03d", j), nil)); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		for {
			n, err := converged(ns)
			if err != nil {
				b.Fatal(err)
			}
			if n == count {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("only %d of %d instances converged in 5 minutes", n, count)
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.StopTimer()
		elapsed := time.Since(start)
		// Let trailing status writes land, then count.
		time.Sleep(2 * time.Second)
		b.ReportMetric(elapsed.Seconds(), "s/200-instances")
		b.ReportMetric(float64(op.writes.n.Load()-before)/count, "writes/instance")
		op.stop()
	}
}

// BenchmarkManagerHeapWith1000UnrelatedSecrets measures the operator's heap with 1,000 Secrets
// (4 KiB each) that are not its own in the cluster, against the same without them: the cache
// holds only labelled Secrets, so the difference should stay near zero.
func BenchmarkManagerHeapWith1000UnrelatedSecrets(b *testing.B) {
	heap := func(withSecrets bool) float64 {
		ns := namespace(b, nil)
		if withSecrets {
			payload := strings.Repeat("x", 4096)
			for j := range 1000 {
				s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("unrelated-%04d", j), Namespace: ns}, StringData: map[string]string{"blob": payload}}
				if err := kube.Client.Create(context.Background(), s); err != nil {
					b.Fatal(err)
				}
			}
		}
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		op := startOperatorB(b)
		time.Sleep(3 * time.Second) // informers synced, steady
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		op.stop()
		return float64(int64(m.HeapInuse)-int64(base.HeapInuse)) / (1 << 20)
	}
	for i := 0; i < b.N; i++ {
		without := heap(false)
		with := heap(true)
		// Control: the same with a cache of every Secret, as an operator without the label
		// restriction would have.
		cacheEverything = true
		unrestricted := heap(true)
		cacheEverything = false
		b.ReportMetric(without, "MiB-heap-without")
		b.ReportMetric(with, "MiB-heap-with-1000-secrets")
		b.ReportMetric(unrestricted, "MiB-heap-caching-all-secrets")
	}
}
