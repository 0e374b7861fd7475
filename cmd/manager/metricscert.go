package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/rsched/rsched/internal/metricscert"
	"github.com/rsched/rsched/internal/pki"
)

// metricsCertOptions are the flags of the manager's own metrics certificate (internal/metricscert).
type metricsCertOptions struct {
	secret, configMap, service string
	leafLifetime, caLifetime   time.Duration
}

// minMetricsLeafLifetime: a leaf's life counts its 5-minute backdate, so a shorter lifetime would
// be due for renewal the moment it is issued.
const minMetricsLeafLifetime = 3 * time.Minute

func (m *metricsCertOptions) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&m.secret, "metrics-cert-secret", "", "Issue the metrics endpoint's certificate from a CA of the manager's own, both kept in this Secret of the manager's namespace, and write it into --metrics-cert-dir, renewing it while running. Needs --metrics-ca-configmap and --metrics-service. Empty: --metrics-cert-dir is read as it is.")
	fs.StringVar(&m.configMap, "metrics-ca-configmap", "", "ConfigMap of the manager's namespace where the metrics CA certificate (never its key) is published as ca.crt, for scrapers to verify the endpoint with.")
	fs.StringVar(&m.service, "metrics-service", "", "Name of the metrics Service: the certificate is for <name>, <name>.<ns>, <name>.<ns>.svc and <name>.<ns>.svc.cluster.local.")
	fs.DurationVar(&m.leafLifetime, "metrics-cert-lifetime", metricscert.DefaultLeafLifetime, "Lifetime of the metrics certificate (at least 3m), renewed at 2/3 of it.")
	fs.DurationVar(&m.caLifetime, "metrics-ca-lifetime", pki.DefaultCALifetime, "Lifetime of the metrics CA certificate (at least 24h), re-signed with the same key at 2/3 of it.")
}

func (m *metricsCertOptions) validate(metricsAddr, certDir string) error {
	if m.secret == "" {
		if m.configMap != "" || m.service != "" {
			return errors.New("--metrics-ca-configmap and --metrics-service go with --metrics-cert-secret")
		}
		return nil
	}
	switch {
	case metricsAddr == "0":
		return errors.New("--metrics-cert-secret needs the metrics endpoint (--metrics-bind-address is 0)")
	case certDir == "" || m.configMap == "" || m.service == "":
		return errors.New("--metrics-cert-secret needs --metrics-cert-dir, --metrics-ca-configmap and --metrics-service")
	case m.leafLifetime < minMetricsLeafLifetime:
		return fmt.Errorf("--metrics-cert-lifetime must be at least %v", minMetricsLeafLifetime)
	case m.caLifetime < 24*time.Hour || m.caLifetime < m.leafLifetime:
		return errors.New("--metrics-ca-lifetime must be at least 24h and not shorter than --metrics-cert-lifetime")
	}
	for flagName, errs := range map[string][]string{
		"--metrics-cert-secret":  validation.IsDNS1123Subdomain(m.secret),
		"--metrics-ca-configmap": validation.IsDNS1123Subdomain(m.configMap),
		"--metrics-service":      validation.IsDNS1035Label(m.service),
	} {
		if len(errs) > 0 {
			return fmt.Errorf("%s: %s", flagName, strings.Join(errs, "; "))
		}
	}
	return nil
}

// start issues or reads the certificate and writes it into certDir, and returns the Keeper that
// renews it while the manager runs (a Runnable that does nothing when the manager does not keep
// its own certificate). It runs before the manager is created: the metrics server reads the
// files once at its start and falls back to a self-signed certificate when they are not there.
func (m *metricsCertOptions) start(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, certDir string) (manager.Runnable, error) {
	if m.secret == "" {
		return manager.RunnableFunc(func(context.Context) error { return nil }), nil
	}
	// A client of its own, without a cache: it reads two objects by name, which is all its RBAC
	// allows (no list or watch).
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	ns := operatorNamespace()
	k := metricscert.New(c, metricscert.Config{
		Namespace: ns, SecretName: m.secret, ConfigMapName: m.configMap, Dir: certDir,
		Policy: metricscert.Policy{
			DNSNames:     pki.ServiceDNSNames(m.service, ns),
			LeafLifetime: m.leafLifetime, CALifetime: m.caLifetime,
			CommonName: "rsched manager metrics CA " + ns + "/" + m.service,
		},
		Labels: map[string]string{ManagedByLabel: "rsched"},
		Log:    ctrl.Log.WithName("metrics-certificate"),
	})
	res, err := k.Sync(ctx)
	if err != nil {
		return nil, fmt.Errorf("the metrics certificate (Secret %s/%s, ConfigMap %s/%s): %w", ns, m.secret, ns, m.configMap, err)
	}
	ctrl.Log.WithName("metrics-certificate").Info("serving the manager's own metrics certificate",
		"secret", m.secret, "configMap", m.configMap, "serial", res.Serial, "actions", len(res.Performed))
	return k, nil
}
