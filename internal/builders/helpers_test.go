package builders

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// newInstance is the smallest valid SchedulerInstance, as built in Go without admission defaults:
// every builder must treat unset optional fields as their documented defaults.
func newInstance() *rschedv1.SchedulerInstance {
	return &rschedv1.SchedulerInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "sched"},
		Spec: rschedv1.SchedulerInstanceSpec{
			Database: rschedv1.DatabaseSpec{
				URLSecretRef: &rschedv1.SecretKeyRef{Name: "pg", Key: "url"},
			},
		},
	}
}

// with returns a fresh instance changed by each mutation in turn.
func with(mutations ...func(*rschedv1.SchedulerInstance)) *rschedv1.SchedulerInstance {
	si := newInstance()
	for _, m := range mutations {
		m(si)
	}
	return si
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
