package keyring

import (
	"bytes"
	"context"
	"crypto/sha256"
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

// Metrics of a Watcher. Create them once with NewMetrics and share them between watchers.
type Metrics struct {
	Reloads      prometheus.Counter
	ReloadErrors prometheus.Counter
	Version      prometheus.Gauge
	// LoadTime is when the keyring in use was loaded: a time, not an age, so that an alert can
	// compute the age itself (time() - x) and a scrape that stops does not freeze a young age.
	LoadTime prometheus.Gauge
}

// NewMetrics registers the keyring metrics with reg (nil: not registered anywhere).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rsched", Subsystem: "keyring", Name: "reloads_total",
			Help: "Keyring files loaded successfully after start-up.",
		}),
		ReloadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rsched", Subsystem: "keyring", Name: "reload_errors_total",
			Help: "Keyring files rejected; the previous keyring stayed in use.",
		}),
		Version: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "rsched", Subsystem: "keyring", Name: "version",
			Help: "Version of the keyring in use.",
		}),
		LoadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "rsched", Subsystem: "keyring", Name: "load_timestamp_seconds",
			Help: "When the keyring in use was loaded (Unix time).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Reloads, m.ReloadErrors, m.Version, m.LoadTime)
	}
	return m
}

// Watcher holds the current keyring of a file and replaces it when the file changes.
//
// Kubernetes updates a mounted Secret by writing a new timestamped directory and swapping the
// "..data" symlink to it, so the file's own inode never changes and a watch on the file would
// miss the update. The Watcher therefore watches the file's directory and re-reads the file on
// any event there, and also re-reads it every PollInterval in case an event is lost (inotify on
// some volume types). A file that fails to parse, or that carries an older version than the
// keyring in use (a restored backup, say, which could bring back a key retired after a compromise),
// is rejected: the previous keyring stays in use, the error is logged (never the content) and
// counted, and LastError reports it. If the directory is replaced, the watch is set up again.
type Watcher struct {
	path    string
	poll    time.Duration
	log     *slog.Logger
	metrics *Metrics

	current atomic.Pointer[Keyring]

	reloadMu sync.Mutex        // serialises Reload: no older read can overwrite a newer install
	digest   [sha256.Size]byte // of the last content handled; guarded by reloadMu
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

// NewWatcher loads the keyring at path. It fails when the file is missing or invalid: a server
// must not start without keys. Call Run to follow changes.
func NewWatcher(path string, opts WatcherOptions) (*Watcher, error) {
	w := &Watcher{path: path, poll: opts.PollInterval, log: opts.Logger, metrics: opts.Metrics}
	if w.poll <= 0 {
		w.poll = 10 * time.Second
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.metrics == nil {
		w.metrics = NewMetrics(nil)
	}
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	kr, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w.install(kr, sha256.Sum256(data))
	return w, nil
}

// Current is the keyring in use. It never returns nil and never blocks, so it can be called on
// every request.
func (w *Watcher) Current() *Keyring { return w.current.Load() }

// LastError is the reason the most recent changed file was rejected, or nil if the file in use is
// the latest one seen.
func (w *Watcher) LastError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// missingReportAfter is how many consecutive reads may find no file before it is reported: a
// symlink swap can hide it for an instant, a deleted Secret hides it for good.
const missingReportAfter = 3

// Run follows the file until ctx ends (internal/filewatch: notifications on its directory, a
// poll, the directory watched again when it is replaced).
func (w *Watcher) Run(ctx context.Context) error {
	filewatch.Follow(ctx, w.log, "keyring", []string{filepath.Dir(w.path)}, w.poll, func() { w.Reload() })
	return nil
}

// Reload reads the file now and installs it if it changed, is valid, and is not older than the
// keyring in use. It reports whether a new keyring was installed. Safe for concurrent use.
func (w *Watcher) Reload() bool {
	w.reloadMu.Lock()
	defer w.reloadMu.Unlock()
	data, err := readLimited(w.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// A swap in progress can hide the file for an instant; report only a lasting absence.
			w.missing++
			if w.missing == missingReportAfter {
				w.reject(fmt.Errorf("keyring file %s has disappeared", w.path))
			}
			return false
		}
		w.reject(err)
		return false
	}
	w.missing = 0
	digest := sha256.Sum256(data)
	if digest == w.digest {
		return false
	}
	// Remember this content whatever the outcome, so a bad file is reported once, not every poll.
	w.digest = digest
	kr, err := Parse(data)
	if err != nil {
		w.reject(err)
		return false
	}
	previous := w.Current()
	if kr.Version < previous.Version {
		w.reject(fmt.Errorf("keyring: version %d is older than the version in use (%d); refusing to go back", kr.Version, previous.Version))
		return false
	}
	if kr.Version == previous.Version {
		w.reject(fmt.Errorf("keyring: the file changed but kept version %d; every change must raise the version", kr.Version))
		return false
	}
	w.install(kr, digest)
	w.metrics.Reloads.Inc()
	w.log.Info("keyring: loaded a new keyring", "version", kr.Version, "previousVersion", previous.Version,
		"activeSigningKid", kr.ActiveSigningKey().KID, "activeEncryptionKid", kr.ActiveEncryptionKey().KID)
	return true
}

func (w *Watcher) install(kr *Keyring, digest [sha256.Size]byte) {
	w.current.Store(kr)
	w.digest = digest
	w.metrics.Version.Set(float64(kr.Version))
	w.metrics.LoadTime.SetToCurrentTime()
	w.mu.Lock()
	w.lastErr = nil
	w.mu.Unlock()
}

func (w *Watcher) reject(err error) {
	w.metrics.ReloadErrors.Inc()
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
	w.log.Error("keyring: rejected the changed keyring file; the previous keyring stays in use",
		"path", w.path, "error", err, "versionInUse", w.Current().Version)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(f, MaxFileSize+1)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
