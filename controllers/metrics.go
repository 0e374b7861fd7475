package controllers

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/prometheus/client_golang/prometheus"
	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics for alerting, beside controller-runtime's reconcile totals, errors and durations.
var (
	instanceReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rsched_instance_ready", Help: "1 when the SchedulerInstance's Ready condition is True, else 0.",
	}, []string{"namespace", "name"})
	secretSyncTime = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rsched_secret_sync_timestamp_seconds", Help: "When the SchedulerInstance's secrets were last read from their sources (Unix time).",
	}, []string{"namespace", "name"})
	certificateExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rsched_certificate_expiration_timestamp_seconds",
		Help: "When the SchedulerInstance's serving certificate (kind=leaf) or its CA (kind=ca, operator-managed) expires (Unix time).",
	}, []string{"namespace", "name", "kind"})
	certificateRenewal = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rsched_certificate_renewal_timestamp_seconds",
		Help: "When the operator renews the SchedulerInstance's serving certificate (kind=leaf) or its CA (kind=ca) (Unix time; operator-managed only).",
	}, []string{"namespace", "name", "kind"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(instanceReady, secretSyncTime, certificateExpiry, certificateRenewal)
}

// recordCertificateMetrics exports status.tls's times; a time status does not hold is removed.
func recordCertificateMetrics(ns, name string, s *rschedv1.TLSStatus) {
	set := func(g *prometheus.GaugeVec, kind string, t *metav1.Time) {
		if t == nil {
			g.DeleteLabelValues(ns, name, kind)
			return
		}
		g.WithLabelValues(ns, name, kind).Set(float64(t.Unix()))
	}
	if s == nil {
		s = &rschedv1.TLSStatus{}
	}
	set(certificateExpiry, "leaf", s.NotAfter)
	set(certificateExpiry, "ca", s.CANotAfter)
	set(certificateRenewal, "leaf", s.RenewalTime)
	set(certificateRenewal, "ca", s.CARenewalTime)
}
