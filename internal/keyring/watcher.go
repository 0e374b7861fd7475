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

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of a Watcher. Create them once with NewMetrics and share them between watchers.
type Metrics struct {
	Reloads       prometheus.Counter
	ReloadErrors  prometheus.Counter
	Version       prometheus.Gauge
	LastReloadAge prometheus.GaugeFunc
	lastReload    atomic.Int64 // unix seconds of the last successful load
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
	}
	m.LastReloadAge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "rsched", Subsystem: "keyring", Name: "seconds_since_load",
		Help: "Seconds since the keyring in use was loaded.",
	}, func() float64 {
		last := m.lastReload.Load()
		if last == 0 {
			return 0
		}
		return time.Since(time.Unix(last, 0)).Seconds()
	})
	if reg != nil {
		reg.MustRegister(m.Reloads, m.ReloadErrors, m.Version, m.LastReloadAge)
	}
	return m
}

// Watcher holds the current keyring of a file and replaces it when the file changes.
//
// Kubernetes updates a mounted Secret by writing a new timestamped directory and swapping the
// "..data" symlink to it, so the file's own inode never changes and a watch on the file would
// miss the update. The Watcher therefore watches the file's directory and re-reads the file on
// any event there, and also re-reads it every PollInterval in case an event is lost (inotify on
// some volume types). A file that fails to parse is rejected: the previous keyring stays in use,
// the error is logged (never the content) and counted, and LastError reports it.
type Watcher struct {
	path    string
	poll    time.Duration
	log     *slog.Logger
	metrics *Metrics

	current atomic.Pointer[Keyring]
	digest  [sha256.Size]byte // of the file content in use; touched only by the loading goroutine

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
	w.install(kr, data)
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

// Run follows the file until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.log.Warn("keyring: no file notifications, polling only", "error", err, "interval", w.poll)
	} else {
		defer fw.Close()
		if err := fw.Add(filepath.Dir(w.path)); err != nil {
			w.log.Warn("keyring: cannot watch the keyring directory, polling only", "error", err, "interval", w.poll)
		}
	}
	var events chan fsnotify.Event
	var errs chan error
	if fw != nil {
		events, errs = fw.Events, fw.Errors
	}
	ticker := time.NewTicker(w.poll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-events:
			// A swap produces a burst of events; reading once per event is cheap and the digest
			// check makes repeats no-ops.
			w.Reload()
		case err := <-errs:
			w.log.Warn("keyring: file notification error; polling continues", "error", err)
		case <-ticker.C:
			w.Reload()
		}
	}
}

// Reload reads the file now and installs it if it changed and is valid. It reports whether a new
// keyring was installed. Safe to call from one goroutine at a time (Run's).
func (w *Watcher) Reload() bool {
	data, err := readLimited(w.path)
	if err != nil {
		// A swap in progress can briefly leave no file; the next event or poll reads it.
		if !errors.Is(err, os.ErrNotExist) {
			w.reject(err)
		}
		return false
	}
	if sha256.Sum256(data) == w.digest {
		return false
	}
	kr, err := Parse(data)
	if err != nil {
		w.reject(err)
		// Remember the rejected content so the same bad file is reported once, not every poll.
		w.digest = sha256.Sum256(data)
		return false
	}
	previous := w.Current()
	w.install(kr, data)
	w.metrics.Reloads.Inc()
	w.log.Info("keyring: loaded a new keyring", "version", kr.Version, "previousVersion", previous.Version,
		"activeSigningKid", kr.ActiveSigningKey().KID, "activeEncryptionKid", kr.ActiveEncryptionKey().KID)
	return true
}

func (w *Watcher) install(kr *Keyring, data []byte) {
	w.current.Store(kr)
	w.digest = sha256.Sum256(data)
	w.metrics.Version.Set(float64(kr.Version))
	w.metrics.lastReload.Store(time.Now().Unix())
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
