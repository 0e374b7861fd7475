package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
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
)

func init() {
	ctrlmetrics.Registry.MustRegister(instanceReady, secretSyncTime)
}
