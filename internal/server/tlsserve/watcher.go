package tlsserve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rsched/rsched/internal/filewatch"
)

// maxFileSize bounds what is read of a certificate or key file: a chain of a few certificates is
// a few KiB; anything near this is not a serving certificate.
const maxFileSize = 1 << 20

// Metrics of a Watcher. Create them once with NewMetrics.
type Metrics struct {
	Reloads      prometheus.Counter
	ReloadErrors prometheus.Counter
	NotAfter     prometheus.Gauge
}

// NewMetrics registers the certificate metrics with reg (nil: not registered anywhere).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rsched", Subsystem: "tls", Name: "certificate_reloads_total",
			Help: "Serving certificates loaded successfully after start-up.",
		}),
		ReloadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rsched", Subsystem: "tls", Name: "certificate_reload_errors_total",
			Help: "Changed certificate or key files rejected; the previous certificate stayed in use.",
		}),
		NotAfter: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "rsched", Subsystem: "tls", Name: "certificate_not_after_timestamp_seconds",
			Help: "Expiry (notAfter, Unix seconds) of the serving certificate in use.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Reloads, m.ReloadErrors, m.NotAfter)
	}
	return m
}

// Watcher holds the serving certificate of a certificate file and a key file and replaces it when
// they change, as internal/keyring's Watcher does for the keyring.
//
// The kubelet updates a mounted Secret by writing a new timestamped directory and swapping the
// "..data" symlink to it, so a watch on the files themselves would miss the update: the Watcher
// watches their directories, re-reads both files on any event there, and re-reads them every
// PollInterval in case an event is lost. A pair that does not parse, or whose key does not match
// the certificate, is rejected: the previous certificate stays in use, the error is logged (never
// the content) and counted, and LastError reports it.
type Watcher struct {
	certPath, keyPath string
	poll              time.Duration
	log               *slog.Logger
	metrics           *Metrics

	current atomic.Pointer[tls.Certificate]

	reloadMu sync.Mutex        // serialises Reload: no older read can overwrite a newer install
	digest   [sha256.Size]byte // of the last pair handled; guarded by reloadMu
	missing  int               // consecutive reads that found no file; guarded by reloadMu

	mu      sync.Mutex
	lastErr error
}

// WatcherOptions tune a Watcher; the zero value is usable.
type WatcherOptions struct {
	// PollInterval between re-reads when no event arrives. Default 10s.
	PollInterval time.Duration
	// Logger for reloads and rejections. Default slog.Default().
	Logger *slog.Logger
	// Metrics to update. Default: unregistered metrics.
	Metrics *Metrics
}

// NewWatcher loads the pair. It fails when a file is missing or unreadable or the pair is invalid:
// a server told to serve HTTPS must not start without a certificate. Call Run to follow changes.
func NewWatcher(certPath, keyPath string, opts WatcherOptions) (*Watcher, error) {
	w := &Watcher{certPath: certPath, keyPath: keyPath, poll: opts.PollInterval, log: opts.Logger, metrics: opts.Metrics}
	if w.poll <= 0 {
		w.poll = 10 * time.Second
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.metrics == nil {
		w.metrics = NewMetrics(nil)
	}
	certPEM, keyPEM, err := w.readPair()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cert, err := parsePair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: %s and %s: %w", certPath, keyPath, err)
	}
	w.install(cert, pairDigest(certPEM, keyPEM))
	return w, nil
}

// GetCertificate is the tls.Config hook: the certificate in use, read without blocking on
// every handshake.
func (w *Watcher) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return w.current.Load(), nil
}

// Current is the certificate in use; its Leaf is set.
func (w *Watcher) Current() *tls.Certificate { return w.current.Load() }

// LastError is the reason the most recent changed pair was rejected, or nil if the pair in use is
// the latest one seen.
func (w *Watcher) LastError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// missingReportAfter is how many consecutive reads may find no file before it is reported: a
// symlink swap can hide it for an instant, a deleted Secret hides it for good.
const missingReportAfter = 3

// Run follows the files until ctx ends (internal/filewatch: notifications on their directories,
// a poll, a directory watched again when it is replaced).
func (w *Watcher) Run(ctx context.Context) error {
	filewatch.Follow(ctx, w.log, "tls", w.dirs(), w.poll, func() { w.Reload() })
	return nil
}

func (w *Watcher) dirs() []string {
	c, k := filepath.Dir(w.certPath), filepath.Dir(w.keyPath)
	if c == k {
		return []string{c}
	}
	return []string{c, k}
}

// Reload reads the pair now and installs it if it changed and is valid. It reports whether a new
// certificate was installed. Safe for concurrent use.
func (w *Watcher) Reload() bool {
	w.reloadMu.Lock()
	defer w.reloadMu.Unlock()
	certPEM, keyPEM, err := w.readPair()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// A swap in progress can hide a file for an instant; report only a lasting absence.
			w.missing++
			if w.missing == missingReportAfter {
				w.reject(fmt.Errorf("certificate or key file has disappeared: %w", err))
			}
			return false
		}
		w.reject(err)
		return false
	}
	w.missing = 0
	digest := pairDigest(certPEM, keyPEM)
	if digest == w.digest {
		return false
	}
	// Remember this pair whatever the outcome, so a bad pair is reported once, not every poll.
	w.digest = digest
	cert, err := parsePair(certPEM, keyPEM)
	if err != nil {
		w.reject(err)
		return false
	}
	previous := w.Current().Leaf
	w.install(cert, digest)
	w.metrics.Reloads.Inc()
	w.log.Info("tls: serving a new certificate", "serial", cert.Leaf.SerialNumber.Text(16),
		"previousSerial", previous.SerialNumber.Text(16), "notAfter", cert.Leaf.NotAfter.UTC().Format(time.RFC3339),
		"dnsNames", cert.Leaf.DNSNames)
	return true
}

// readPair reads both files. The kubelet swaps them together, but two reads can straddle a swap
// (old certificate, new key): the certificate is read again after the key and the pair re-read
// when it changed in between, so a swap is not reported as a mismatched pair.
func (w *Watcher) readPair() (certPEM, keyPEM []byte, err error) {
	for range 3 {
		if certPEM, err = readLimited(w.certPath); err != nil {
			return nil, nil, err
		}
		if keyPEM, err = readLimited(w.keyPath); err != nil {
			return nil, nil, err
		}
		again, err := readLimited(w.certPath)
		if err != nil {
			return nil, nil, err
		}
		if bytes.Equal(again, certPEM) {
			return certPEM, keyPEM, nil
		}
	}
	return certPEM, keyPEM, nil
}

// parsePair checks that the key matches the certificate and parses the leaf. Its errors name the
// problem, never the content (crypto/tls's messages do not quote the PEM).
func parsePair(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil {
		return nil, errors.New("no leaf certificate")
	}
	return &cert, nil
}

func pairDigest(certPEM, keyPEM []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	var d [sha256.Size]byte
	copy(d[:], h.Sum(nil))
	return d
}

func (w *Watcher) install(cert *tls.Certificate, digest [sha256.Size]byte) {
	w.current.Store(cert)
	w.digest = digest
	w.metrics.NotAfter.Set(float64(cert.Leaf.NotAfter.Unix()))
	w.mu.Lock()
	w.lastErr = nil
	w.mu.Unlock()
}

func (w *Watcher) reject(err error) {
	w.metrics.ReloadErrors.Inc()
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
	w.log.Error("tls: rejected the changed certificate or key; the previous certificate stays in use",
		"certFile", w.certPath, "keyFile", w.keyPath, "error", err,
		"serialInUse", w.Current().Leaf.SerialNumber.Text(16))
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(f, maxFileSize+1)); err != nil {
		return nil, err
	}
	if buf.Len() > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	return buf.Bytes(), nil
}
