// Command scheduler is the scheduling API server that the operator deploys. It reads its
// configuration file (internal/serverconfig), its secrets from mounted files, migrates the
// database, follows the keyring, and serves the API and, on a separate listener, its metrics:
// over HTTPS only when the config names a certificate (internal/server/tlsserve), else plain HTTP.
package main

import (
	// The image has no zoneinfo: scheduling.time_zone must load anyway.
	_ "time/tzdata"

	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/server/app"
	"github.com/rsched/rsched/internal/server/tlsserve"
	"github.com/rsched/rsched/internal/serverconfig"
	"github.com/rsched/rsched/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		slog.Error("scheduler stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scheduler", flag.ContinueOnError)
	configPath := fs.String("config", "/etc/rsched/config.yaml", "Configuration file (YAML). Empty: defaults and RSCHED_SERVER_* variables only.")
	metricsAddr := fs.String("metrics-addr", "", "Metrics listener; overrides metrics_addr of the config. Never the public address.")
	drain := fs.Duration("shutdown-timeout", 20*time.Second, "How long in-flight requests may finish after SIGTERM.")
	showVersion := fs.Bool("version", false, "Print the version and exit.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println(version.Version)
		return nil
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	slog.SetDefault(log)

	cfg, err := loadConfig(*configPath, *metricsAddr)
	if err != nil {
		return err
	}
	dbURL, err := cfg.DatabaseURL()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	keys, err := keyring.NewWatcher(cfg.Secrets.KeyringFile, keyring.WatcherOptions{Logger: log, Metrics: keyring.NewMetrics(reg)})
	if err != nil {
		return err
	}
	certs, err := loadCertificate(cfg.TLS, log, reg)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, keys, dbURL, app.Options{Log: log, Metrics: reg, AuditStream: os.Stdout})
	if err != nil {
		return err
	}
	defer a.Close()
	return serve(ctx, log, cfg, a, reg, watchers{keys: keys, certs: certs}, *drain)
}

// loadCertificate loads the serving certificate when the config names one (nil: plain HTTP).
func loadCertificate(t serverconfig.TLS, log *slog.Logger, reg prometheus.Registerer) (*tlsserve.Watcher, error) {
	if !t.Enabled() {
		return nil, nil
	}
	if err := t.CheckFiles(); err != nil {
		return nil, err
	}
	certs, err := tlsserve.NewWatcher(t.CertFile, t.KeyFile, tlsserve.WatcherOptions{Logger: log, Metrics: tlsserve.NewMetrics(reg)})
	if err != nil {
		return nil, err
	}
	leaf := certs.Current().Leaf
	log.Info("tls: serving certificate loaded", "serial", leaf.SerialNumber.Text(16),
		"notAfter", leaf.NotAfter.UTC().Format(time.RFC3339), "dnsNames", leaf.DNSNames)
	return certs, nil
}

// watchers follow mounted files: the keyring, and the serving certificate when TLS is on.
type watchers struct {
	keys  *keyring.Watcher
	certs *tlsserve.Watcher
}

// run follows the files until ctx ends.
func (w watchers) run(ctx context.Context) {
	go func() { _ = w.keys.Run(ctx) }()
	if w.certs != nil {
		go func() { _ = w.certs.Run(ctx) }()
	}
}

// listen makes srv serve ln, over TLS with certs' certificate when certs is set: then a
// plain-HTTP request gets net/http's 400 "Client sent an HTTP request to an HTTPS server".
func listen(srv *http.Server, ln net.Listener, certs *tlsserve.Watcher) error {
	if certs == nil {
		return srv.Serve(ln)
	}
	tlsserve.Configure(srv, certs)
	return srv.ServeTLS(ln, "", "")
}

// loadConfig reads the file and applies the -metrics-addr flag, validating again when it did.
func loadConfig(path, metricsAddr string) (serverconfig.Config, error) {
	cfg, err := serverconfig.Load(path)
	if err != nil {
		return cfg, err
	}
	if metricsAddr != "" {
		cfg.MetricsAddr = metricsAddr
		if err := cfg.Validate(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// serve runs the API and metrics listeners and the background work until ctx ends, then drains
// in-flight requests for at most drain.
func serve(ctx context.Context, log *slog.Logger, cfg serverconfig.Config, a *app.App, reg *prometheus.Registry, w watchers, drain time.Duration) error {
	api := &http.Server{
		Addr:              cfg.ListenAddr,
		Handler:           a.HTTP,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	metrics := &http.Server{
		Addr:              cfg.MetricsAddr,
		Handler:           promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	apiLn, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return err
	}
	metricsLn, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		_ = apiLn.Close()
		return err
	}
	log.Info("serving", "version", version.Version, "api", apiLn.Addr().String(), "metrics", metricsLn.Addr().String(),
		"keyringVersion", w.keys.Current().Version, "tls", w.certs != nil)

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w.run(watchCtx)
	go a.RunBackground(watchCtx)
	go a.ListenForChanges(watchCtx)
	errc := make(chan error, 2)
	go func() { errc <- listen(api, apiLn, w.certs) }()
	go func() { errc <- listen(metrics, metricsLn, w.certs) }()

	select {
	case <-ctx.Done():
		log.Info("shutting down: draining in-flight requests", "timeout", drain.String())
	case err := <-errc:
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	err = api.Shutdown(shutdownCtx)
	_ = metrics.Shutdown(shutdownCtx)
	if err != nil {
		return fmt.Errorf("draining: %w", err)
	}
	log.Info("stopped cleanly")
	return nil
}
