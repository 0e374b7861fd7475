// Command manager is the rsched operator: it reconciles SchedulerInstance and KeyRotationPolicy
// objects. Flags follow kubebuilder's names; run with --help for the list.
package main

import (
	// The time-zone database, so KeyRotationPolicy cron schedules in any IANA zone work in a
	// minimal image that has no /usr/share/zoneinfo.
	_ "time/tzdata"

	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	schedulingv1alpha1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/controllers"
	"github.com/rsched/rsched/internal/metricsauth"
	"github.com/rsched/rsched/internal/version"
)

// ManagedByLabel marks the Secrets the operator creates. Only those are cached in full: a cluster
// holds many unrelated Secrets, and caching all of them cost cert-manager users gigabytes. A
// Secret the user names in a spec (database URL, Vault CA, AppRole secret ID) is not labelled, so
// a cached Get would answer NotFound: reconcilers read those through mgr.GetAPIReader().
const ManagedByLabel = "app.kubernetes.io/managed-by"

// operatorNamespace is the namespace the operator runs in (POD_NAMESPACE from the downward API),
// "rsched-system" outside a cluster.
func operatorNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "rsched-system"
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

type options struct {
	metricsAddr      string
	metricsCertDir   string
	metricsCert      metricsCertOptions
	probeAddr        string
	leaderElect      bool
	leaderElectionNS string
	leaderElectionID string
	watchNamespaces  string
	schedulerImage   string
	keyPropagation   time.Duration
	enableHTTP2      bool
	trustBundles     bool
	showVersion      bool
	zap              zap.Options
}

func parseFlags(args []string) (*options, error) {
	o := &options{zap: zap.Options{Development: false}}
	fs := flag.CommandLine
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443", "Address of the metrics endpoint, served over HTTPS to authenticated and authorized clients only. \"0\" disables it.")
	fs.StringVar(&o.metricsCertDir, "metrics-cert-dir", "", "Directory with tls.crt and tls.key for the metrics endpoint. Empty: a self-signed certificate is generated at start.")
	o.metricsCert.bindFlags(fs)
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probe endpoints.")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "Elect a leader so that only one replica reconciles at a time.")
	fs.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader election Lease. Empty: the namespace the manager runs in.")
	fs.StringVar(&o.leaderElectionID, "leader-election-id", "rsched-manager.scheduling.rsched.io", "Name of the leader election Lease.")
	fs.StringVar(&o.watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces to watch. Empty: all namespaces.")
	fs.StringVar(&o.schedulerImage, "scheduler-image", version.DefaultSchedulerImage(), "Scheduling API server image for SchedulerInstances that name none.")
	fs.DurationVar(&o.keyPropagation, "key-propagation-timeout", controllers.DefaultKeyPropagation, "How long a staged key version is given to reach every pod of an instance before it is activated, when the operator cannot read the pods' keyring versions from their metrics endpoints. At least the kubelet's syncFrequency plus its Secret cache TTL.")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", false, "Serve metrics over HTTP/2. Off by default because of the HTTP/2 Rapid Reset and Stream Cancellation CVEs.")
	fs.BoolVar(&o.trustBundles, "cluster-trust-bundles", false, "Also publish each instance's trust bundle as a ClusterTrustBundle rsched.<namespace>.<instance> when the API server serves them (certificates.k8s.io/v1, else v1beta1). Needs get, list, watch, create, update and delete on clustertrustbundles; not with --watch-namespaces.")
	fs.BoolVar(&o.showVersion, "version", false, "Print the version and exit.")
	o.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.keyPropagation < 10*time.Second {
		return nil, errors.New("--key-propagation-timeout must be at least 10s: mounted Secrets take that long to reach pods")
	}
	if o.trustBundles && strings.TrimSpace(o.watchNamespaces) != "" {
		return nil, errors.New("--cluster-trust-bundles writes cluster-scoped objects, which a namespaced install (--watch-namespaces) does not: use one or the other")
	}
	if strings.TrimSpace(o.schedulerImage) == "" {
		return nil, errors.New("--scheduler-image must not be empty")
	}
	if err := o.metricsCert.validate(o.metricsAddr, o.metricsCertDir); err != nil {
		return nil, err
	}
	return o, nil
}

// watchedNamespaces turns the flag into the cache's namespace set; nil means all namespaces.
func watchedNamespaces(flagValue string) (map[string]cache.Config, error) {
	if strings.TrimSpace(flagValue) == "" {
		return nil, nil
	}
	out := map[string]cache.Config{}
	for _, ns := range strings.Split(flagValue, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" {
			continue
		}
		if errs := validateNamespace(ns); errs != "" {
			return nil, fmt.Errorf("--watch-namespaces: %q %s", ns, errs)
		}
		out[ns] = cache.Config{}
	}
	if len(out) == 0 {
		// An empty map would mean "all namespaces": the opposite of what a list was asked for.
		return nil, fmt.Errorf("--watch-namespaces %q names no namespace; leave it empty to watch all", flagValue)
	}
	return out, nil
}

func validateNamespace(ns string) string {
	if len(ns) > 63 {
		return "is longer than 63 characters"
	}
	for i, r := range ns {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (r == '-' && i > 0 && i < len(ns)-1)
		if !ok {
			return "is not a valid namespace name (lower-case letters, digits and '-')"
		}
	}
	return ""
}

func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := schedulingv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// tlsOptions are the metrics and webhook servers' TLS settings: TLS 1.2 at least, and HTTP/1.1
// only unless HTTP/2 is asked for.
func tlsOptions(enableHTTP2 bool) []func(*tls.Config) {
	var opts []func(*tls.Config)
	if !enableHTTP2 {
		opts = append(opts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	return append(opts, func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 })
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.showVersion {
		fmt.Println(version.Version)
		return nil
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	log := ctrl.Log.WithName("setup")

	scheme, err := newScheme()
	if err != nil {
		return err
	}
	namespaces, err := watchedNamespaces(o.watchNamespaces)
	if err != nil {
		return err
	}
	managedSecrets, err := labels.Parse(ManagedByLabel + "=rsched")
	if err != nil {
		return err
	}

	tlsOpts := tlsOptions(o.enableHTTP2)

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("no Kubernetes configuration (in-cluster, --kubeconfig or $KUBECONFIG): %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	certKeeper, err := o.metricsCert.start(ctx, cfg, scheme, o.metricsCertDir)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Metrics: metricsserver.Options{
			BindAddress:    o.metricsAddr,
			SecureServing:  true,
			CertDir:        o.metricsCertDir,
			FilterProvider: metricsauth.FilterProvider(operatorNamespace()),
			TLSOpts:        tlsOpts,
		},
		// No webhook runs (validation is CEL in the CRDs), but keep its server locked down too.
		WebhookServer:           webhook.NewServer(webhook.Options{TLSOpts: tlsOpts}),
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        o.leaderElectionID,
		LeaderElectionNamespace: o.leaderElectionNS,
		// Hand the Lease over at once on a clean shutdown instead of waiting for it to expire.
		LeaderElectionReleaseOnCancel: true,
		Cache: cache.Options{
			DefaultNamespaces: namespaces,
			// managedFields are often the largest part of an object and no reconciler reads them.
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Secret{}:    {Label: managedSecrets},
				&corev1.ConfigMap{}: {Label: managedSecrets},
			},
		},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := controllers.Setup(mgr, controllers.Options{SchedulerImage: o.schedulerImage, OperatorNamespace: operatorNamespace(), KeyPropagation: o.keyPropagation, ClusterTrustBundles: o.trustBundles}); err != nil {
		return fmt.Errorf("setting up reconcilers: %w", err)
	}
	if err := mgr.Add(certKeeper); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	log.Info("starting manager", "version", version.Version, "leaderElection", o.leaderElect,
		"watchNamespaces", o.watchNamespaces, "schedulerImage", o.schedulerImage)
	return mgr.Start(ctx)
}
