//go:build ignore

// Command controller runs cert-manager's controllers against a Kubernetes API server: the main
// that hack/get-cert-manager.sh builds, for the tests in internal/testenv.
//
// cert-manager's own main (cmd/controller) is a module of its own,
// github.com/cert-manager/cert-manager/controller-binary, which the Go module proxy does not
// serve; only the root module github.com/cert-manager/cert-manager is there. Everything that
// decides what cert-manager does lives in that root module: the controllers (which register
// themselves in pkg/controller's registry), the configuration API with its defaults and
// validation, the shared informers and clients. This file is only the wiring between them, so
// that what the tests exercise is cert-manager's code at the version the script names.
//
// hack/get-cert-manager.sh builds it in a throwaway module whose path lies under
// github.com/cert-manager/cert-manager, which is what lets it use cert-manager's internal
// configuration packages, the same ones cert-manager's main uses. The `ignore` build constraint
// keeps it out of rsched's own module.
//
// Configuration is cert-manager's ControllerConfiguration (controller.config.cert-manager.io/
// v1alpha1) from --config, defaulted by cert-manager, and a few flags named as cert-manager's own
// that override it. Leader election, the metrics, healthz and pprof servers and the Gateway API
// shim are left out: a test runs one replica and asks the API server for results.
package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	logsapi "k8s.io/component-base/logs/api/v1"

	config "github.com/cert-manager/cert-manager/internal/apis/config/controller"
	configscheme "github.com/cert-manager/cert-manager/internal/apis/config/controller/scheme"
	defaults "github.com/cert-manager/cert-manager/internal/apis/config/controller/v1alpha1"
	"github.com/cert-manager/cert-manager/internal/apis/config/controller/validation"
	cmdutil "github.com/cert-manager/cert-manager/internal/cmd/util"
	"github.com/cert-manager/cert-manager/internal/controller/feature"
	"github.com/cert-manager/cert-manager/internal/pem"
	configv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/controller/v1alpha1"
	"github.com/cert-manager/cert-manager/pkg/controller"
	controllerconfigfile "github.com/cert-manager/cert-manager/pkg/controller/configfile"
	dnsutil "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util/configfile"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"

	// The controllers and issuers register themselves when imported (the same set cert-manager's
	// main imports; the rest come in through the defaults package).
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/ingresses"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/vault"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/venafi"
)

func main() {
	ctx, exit := cmdutil.SetupExitHandler(context.Background(), cmdutil.GracefulShutdown)
	defer exit() // may call os.Exit, so it runs last

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx = logf.NewContext(ctx, logf.Log, "controller")

	cfg, err := loadConfig(os.Args[1:])
	if err == nil {
		err = run(ctx, cfg)
	}
	if err != nil {
		logf.Log.Error(err, "cert-manager controller failed")
		cmdutil.SetExitCode(err)
	}
}

// loadConfig returns cert-manager's defaulted configuration, read from --config when given, with
// the flags set on the command line applied over it, validated as cert-manager validates it.
func loadConfig(args []string) (*config.ControllerConfiguration, error) {
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	file := fs.String("config", "", "a file holding a ControllerConfiguration (controller.config.cert-manager.io/v1alpha1)")
	kubeconfig := fs.String("kubeconfig", "", "the kubeconfig of the API server")
	clusterResourceNamespace := fs.String("cluster-resource-namespace", "", "where the Secrets of ClusterIssuers live")
	namespace := fs.String("namespace", "", "watch only this namespace (cluster-scoped controllers are then off)")
	controllers := fs.StringSlice("controllers", nil, "controllers to run: * for the defaults, -name to leave one out")
	leaderElect := fs.Bool("leader-elect", false, "must be false: this main runs one replica without leader election")
	workers := fs.Int("concurrent-workers", 0, "workers per controller")
	featureGates := fs.StringToString("feature-gates", nil, "cert-manager feature gates, name=true|false")
	verbosity := fs.Int("v", 0, "log verbosity")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *leaderElect {
		return nil, errors.New("--leader-elect=true is not supported: this main runs one replica without leader election")
	}

	cfg, err := defaultConfig()
	if err != nil {
		return nil, err
	}
	if *file != "" {
		if cfg, err = readConfigFile(*file); err != nil {
			return nil, err
		}
	}
	set := func(name string, apply func()) {
		if fs.Changed(name) {
			apply()
		}
	}
	set("kubeconfig", func() { cfg.KubeConfig = *kubeconfig })
	set("cluster-resource-namespace", func() { cfg.ClusterResourceNamespace = *clusterResourceNamespace })
	set("namespace", func() { cfg.Namespace = *namespace })
	set("controllers", func() { cfg.Controllers = *controllers })
	set("concurrent-workers", func() { cfg.NumberOfConcurrentWorkers = *workers })
	set("v", func() { cfg.Logging.Verbosity = logsapi.VerbosityLevel(*verbosity) })
	if fs.Changed("feature-gates") {
		if cfg.FeatureGates == nil {
			cfg.FeatureGates = map[string]bool{}
		}
		for name, value := range *featureGates {
			cfg.FeatureGates[name] = value == "true"
		}
	}
	cfg.LeaderElectionConfig.Enabled = false

	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(cfg.FeatureGates); err != nil {
		return nil, fmt.Errorf("feature gates: %w", err)
	}
	if errs := validation.ValidateControllerConfiguration(cfg, nil); len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration: %w", errs.ToAggregate())
	}
	if err := logf.ValidateAndApply(&cfg.Logging); err != nil {
		return nil, fmt.Errorf("logging configuration: %w", err)
	}
	return cfg, nil
}

// defaultConfig is cert-manager's configuration with every default applied.
func defaultConfig() (*config.ControllerConfiguration, error) {
	scheme, _, err := configscheme.NewSchemeAndCodecs()
	if err != nil {
		return nil, err
	}
	versioned := &configv1alpha1.ControllerConfiguration{}
	scheme.Default(versioned)
	cfg := &config.ControllerConfiguration{}
	if err := scheme.Convert(versioned, cfg, nil); err != nil {
		return nil, err
	}
	return cfg, nil
}

// readConfigFile decodes (strictly) and defaults a ControllerConfiguration file.
func readConfigFile(path string) (*config.ControllerConfiguration, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	loader, err := configfile.NewConfigurationFSLoader(nil, abs)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	f := controllerconfigfile.New()
	if err := loader.Load(f); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return f.Config, nil
}

// enabledControllers reads cfg.Controllers as cert-manager does: "*" is the default set, "-name"
// removes one, a namespaced controller runs no cluster-scoped controller.
func enabledControllers(cfg *config.ControllerConfiguration) sets.Set[string] {
	enabled := sets.New[string]()
	var disabled []string
	for _, c := range cfg.Controllers {
		switch {
		case c == "*":
			enabled.Insert(defaults.DefaultEnabledControllers...)
		case strings.HasPrefix(c, "-"):
			disabled = append(disabled, strings.TrimPrefix(c, "-"))
		default:
			enabled.Insert(c)
		}
	}
	if len(disabled) > 0 && enabled.Len() == 0 {
		enabled.Insert(defaults.DefaultEnabledControllers...)
	}
	if utilfeature.DefaultFeatureGate.Enabled(feature.ExperimentalCertificateSigningRequestControllers) {
		enabled.Insert(defaults.ExperimentalCertificateSigningRequestControllers...)
	}
	if cfg.Namespace != "" {
		enabled.Delete(defaults.ClusterScopedControllers...)
	}
	return enabled.Delete(disabled...)
}

// run starts the enabled controllers and the shared informers, and returns when ctx ends or a
// controller fails.
func run(ctx context.Context, cfg *config.ControllerConfiguration) error {
	log := logf.FromContext(ctx)
	factory, err := newContextFactory(ctx, cfg)
	if err != nil {
		return err
	}
	cmctx, err := factory.Build()
	if err != nil {
		return err
	}
	pem.SetGlobalSizeLimits(pem.NewSizeLimitsFromConfig(cfg.PEMSizeLimitsConfig.MaxCertificateSize,
		cfg.PEMSizeLimitsConfig.MaxPrivateKeySize, cfg.PEMSizeLimitsConfig.MaxChainLength, cfg.PEMSizeLimitsConfig.MaxBundleSize))

	// As in cert-manager's main, an enabled name no controller registered is passed over (the
	// Venafi controllers, when hack/get-cert-manager.sh had to build without them).
	enabled := enabledControllers(cfg)
	known := controller.Known()
	var names []string
	for _, name := range slices.Sorted(maps.Keys(known)) {
		if enabled.Has(name) {
			names = append(names, name)
		}
	}
	log.Info("starting cert-manager controllers", "controllers", names, "not built in", sets.List(enabled.Difference(sets.KeySet(known))))

	g, gctx := errgroup.WithContext(ctx)
	for _, name := range names {
		c, err := known[name](factory)
		if err != nil {
			return fmt.Errorf("controller %s: %w", name, err)
		}
		g.Go(func() error { return c.Run(cfg.NumberOfConcurrentWorkers, gctx) })
	}
	cmctx.SharedInformerFactory.Start(gctx.Done())
	cmctx.KubeSharedInformerFactory.Start(gctx.Done())
	cmctx.HTTP01ResourceMetadataInformersFactory.Start(gctx.Done())
	err = g.Wait()
	cmctx.HTTP01ResourceMetadataInformersFactory.Shutdown()
	cmctx.KubeSharedInformerFactory.Shutdown()
	cmctx.SharedInformerFactory.Shutdown()
	log.Info("control loops exited")
	return err
}

// newContextFactory turns the configuration into the options of cert-manager's controller context.
func newContextFactory(ctx context.Context, cfg *config.ControllerConfiguration) (*controller.ContextFactory, error) {
	var quantities [4]resource.Quantity
	for i, q := range []string{cfg.ACMEHTTP01Config.SolverResourceRequestCPU, cfg.ACMEHTTP01Config.SolverResourceRequestMemory,
		cfg.ACMEHTTP01Config.SolverResourceLimitsCPU, cfg.ACMEHTTP01Config.SolverResourceLimitsMemory} {
		var err error
		if quantities[i], err = resource.ParseQuantity(q); err != nil {
			return nil, fmt.Errorf("ACME HTTP-01 solver resources: %w", err)
		}
	}
	nameservers := cfg.ACMEDNS01Config.RecursiveNameservers
	if len(nameservers) == 0 {
		nameservers = dnsutil.RecursiveNameservers
	}
	return controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         cfg.KubeConfig,
		KubernetesAPIQPS:   cfg.KubernetesAPIQPS,
		KubernetesAPIBurst: cfg.KubernetesAPIBurst,
		APIServerHost:      cfg.APIServerHost,
		Namespace:          cfg.Namespace,
		ACMEOptions: controller.ACMEOptions{
			HTTP01SolverResourceRequestCPU:    quantities[0],
			HTTP01SolverResourceRequestMemory: quantities[1],
			HTTP01SolverResourceLimitsCPU:     quantities[2],
			HTTP01SolverResourceLimitsMemory:  quantities[3],
			ACMEHTTP01SolverRunAsNonRoot:      cfg.ACMEHTTP01Config.SolverRunAsNonRoot,
			HTTP01SolverImage:                 cfg.ACMEHTTP01Config.SolverImage,
			HTTP01SolverNameservers:           cfg.ACMEHTTP01Config.SolverNameservers,
			HTTP01SolverExtraLabels:           cfg.ACMEHTTP01Config.SolverExtraLabels,
			HTTP01SolverRuntimeClassName:      cfg.ACMEHTTP01Config.SolverRuntimeClassName,
			DNS01Nameservers:                  nameservers,
			DNS01CheckRetryPeriod:             cfg.ACMEDNS01Config.CheckRetryPeriod,
			DNS01CheckAuthoritative:           !cfg.ACMEDNS01Config.RecursiveNameserversOnly,
		},
		SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: cfg.MaxConcurrentChallenges},
		IssuerOptions: controller.IssuerOptions{
			ClusterIssuerAmbientCredentials: cfg.ClusterIssuerAmbientCredentials,
			IssuerAmbientCredentials:        cfg.IssuerAmbientCredentials,
			ClusterResourceNamespace:        cfg.ClusterResourceNamespace,
		},
		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerName:                 cfg.IngressShimConfig.DefaultIssuerName,
			DefaultIssuerKind:                 cfg.IngressShimConfig.DefaultIssuerKind,
			DefaultIssuerGroup:                cfg.IngressShimConfig.DefaultIssuerGroup,
			DefaultAutoCertificateAnnotations: cfg.IngressShimConfig.DefaultAutoCertificateAnnotations,
			ExtraCertificateAnnotations:       cfg.IngressShimConfig.ExtraCertificateAnnotations,
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:                           cfg.EnableCertificateOwnerRef,
			CopiedAnnotationPrefixes:                 cfg.CopiedAnnotationPrefixes,
			CertificateRequestMinimumBackoffDuration: cfg.CertificateRequestMinimumBackoffDuration,
			CertificateRequestMaximumBackoffDuration: cfg.CertificateRequestMaximumBackoffDuration,
		},
	})
}
