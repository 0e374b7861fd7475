package keyring

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// secretVolume lays out a directory the way the kubelet's AtomicWriter does for a Secret volume:
//
//	..2026_11_22_12_00_00.123/keyring.json   the data, one directory per update
//	..data -> ..2026_11_22_12_00_00.123      swapped atomically (rename) on update
//	keyring.json -> ..data/keyring.json      stable path the server opens
type secretVolume struct {
	t   testing.TB
	dir string
	n   int
}

func newSecretVolume(t testing.TB, content []byte) *secretVolume {
	v := &secretVolume{t: t, dir: t.TempDir()}
	v.update(content)
	if err := os.Symlink(filepath.Join("..data", "keyring.json"), filepath.Join(v.dir, "keyring.json")); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *secretVolume) path() string { return filepath.Join(v.dir, "keyring.json") }

// update publishes content the way the kubelet does: new directory, new symlink, rename over
// ..data, old directory removed.
func (v *secretVolume) update(content []byte) {
	v.n++
	ts := fmt.Sprintf("..2026_11_22_12_00_%02d.%d", v.n%60, v.n)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o755); err != nil {
		v.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.dir, ts, "keyring.json"), content, 0o600); err != nil {
		v.t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(v.dir, "..data"))
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
	if old != "" {
		_ = os.RemoveAll(filepath.Join(v.dir, old))
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewWatcherRefusesAMissingOrInvalidKeyring(t *testing.T) {
	if _, err := NewWatcher(filepath.Join(t.TempDir(), "absent.json"), WatcherOptions{Logger: quietLogger()}); err == nil {
		t.Error("started without a keyring file")
	}
	f := validFile(1)
	f.Signing[0].State = Retired
	v := newSecretVolume(t, encode(t, f))
	_, err := NewWatcher(v.path(), WatcherOptions{Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), v.path()) || !strings.Contains(err.Error(), "no active signing key") {
		t.Errorf("invalid keyring at start: %v", err)
	}
}

func TestWatcherFollowsAKubernetesSecretVolumeUpdate(t *testing.T) {
	v := newSecretVolume(t, encode(t, validFile(1)))
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	// A poll interval longer than the test: only the directory notification can deliver the update.
	w, err := NewWatcher(v.path(), WatcherOptions{PollInterval: time.Hour, Logger: quietLogger(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	loaded := testutil.ToFloat64(m.LoadTime)
	if at := time.Unix(int64(loaded), 0); time.Since(at) > time.Minute || time.Until(at) > 0 {
		t.Fatalf("load_timestamp_seconds after start = %v, want about now", loaded)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	start := time.Now()
	v.update(encode(t, validFile(2)))
	waitFor(t, 5*time.Second, "version 2 loaded", func() bool { return w.Current().Version == 2 })
	t.Logf("update picked up %s after the symlink swap", time.Since(start).Round(time.Millisecond))
	if w.Current().ActiveSigningKey().KID != "jwt-2" {
		t.Errorf("active signing key after reload: %s", w.Current().ActiveSigningKey().KID)
	}
	if got := testutil.ToFloat64(m.Reloads); got != 1 {
		t.Errorf("reloads_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Version); got != 2 {
		t.Errorf("version gauge = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.LoadTime); got <= loaded || got < float64(start.UnixNano())/1e9 {
		t.Errorf("load_timestamp_seconds after the reload = %v, want a time after the start's %v and the update's %v", got, loaded, float64(start.UnixNano())/1e9)
	}
}

func TestWatcherKeepsTheLastGoodKeyringWhenTheFileTurnsBad(t *testing.T) {
	v := newSecretVolume(t, encode(t, validFile(3)))
	m := NewMetrics(nil)
	w, err := NewWatcher(v.path(), WatcherOptions{Logger: quietLogger(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	loaded := testutil.ToFloat64(m.LoadTime)
	bad := validFile(4)
	bad.Encryption[0].Key = random(16)
	for _, content := range [][]byte{encode(t, bad), []byte("{not json"), []byte("")} {
		v.update(content)
		if w.Reload() {
			t.Fatalf("installed a bad keyring %q", content)
		}
		if w.Current().Version != 3 || w.LastError() == nil {
			t.Fatalf("after a bad file: version %d, last error %v", w.Current().Version, w.LastError())
		}
	}
	// The same bad content seen again (every poll) is not counted again.
	if w.Reload() || testutil.ToFloat64(m.ReloadErrors) != 3 {
		t.Errorf("reload_errors_total = %v, want 3", testutil.ToFloat64(m.ReloadErrors))
	}
	if got := testutil.ToFloat64(m.LoadTime); got != loaded {
		t.Errorf("load_timestamp_seconds moved from %v to %v on rejected files", loaded, got)
	}
	v.update(encode(t, validFile(5)))
	if !w.Reload() || w.Current().Version != 5 || w.LastError() != nil {
		t.Errorf("a good file after bad ones: version %d, last error %v", w.Current().Version, w.LastError())
	}
	// An unchanged file is not reloaded.
	if w.Reload() {
		t.Error("reloaded an unchanged file")
	}
}

// Readers call Current on every request while the keyring rotates underneath them. None may see
// a nil keyring or a keyring without an active key, and versions may only move forward.
func TestReadersNeverSeeAGapWhileTheKeyringRotates(t *testing.T) {
	v := newSecretVolume(t, encode(t, validFile(1)))
	w, err := NewWatcher(v.path(), WatcherOptions{PollInterval: 5 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()

	var reads, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(0)
			for {
				select {
				case <-stop:
					return
				default:
				}
				kr := w.Current()
				if kr == nil || kr.ActiveSigningKey() == nil || kr.ActiveEncryptionKey() == nil || kr.Version < last {
					failures.Add(1)
				} else if _, err := kr.VerificationKey(kr.ActiveSigningKey().KID, t0); err != nil {
					failures.Add(1)
				}
				last = max(last, kr.Version)
				reads.Add(1)
			}
		}()
	}
	const rotations = 40
	for version := int64(2); version <= rotations+1; version++ {
		v.update(encode(t, validFile(version)))
		waitFor(t, 5*time.Second, fmt.Sprintf("version %d", version), func() bool { return w.Current().Version == version })
	}
	close(stop)
	wg.Wait()
	cancel()
	<-done
	t.Logf("%d reads across %d rotations", reads.Load(), rotations)
	if failures.Load() != 0 {
		t.Fatalf("%d of %d reads saw a missing or regressed keyring", failures.Load(), reads.Load())
	}
}

func TestWatcherRefusesToGoBackToAnOlderKeyring(t *testing.T) {
	v := newSecretVolume(t, encode(t, validFile(5)))
	w, err := NewWatcher(v.path(), WatcherOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	// A restored backup: version 3 would bring back keys retired since.
	v.update(encode(t, validFile(3)))
	if w.Reload() || w.Current().Version != 5 || w.LastError() == nil || !strings.Contains(w.LastError().Error(), "older than the version in use") {
		t.Errorf("older keyring: version %d, last error %v", w.Current().Version, w.LastError())
	}
	// The same version with other keys is not a rotation either.
	v.update(encode(t, validFile(5)))
	if w.Reload() || !strings.Contains(fmt.Sprint(w.LastError()), "kept version 5") {
		t.Errorf("same version, new content: last error %v", w.LastError())
	}
	v.update(encode(t, validFile(6)))
	if !w.Reload() || w.Current().Version != 6 {
		t.Errorf("a newer keyring after the refusals: version %d", w.Current().Version)
	}
}

func TestConcurrentReloadsNeverInstallAnOlderRead(t *testing.T) {
	v := newSecretVolume(t, encode(t, validFile(1)))
	w, err := NewWatcher(v.path(), WatcherOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					w.Reload()
				}
			}
		}()
	}
	for version := int64(2); version <= 30; version++ {
		v.update(encode(t, validFile(version)))
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	w.Reload()
	if w.Current().Version != 30 {
		t.Errorf("after concurrent reloads the version is %d, want 30", w.Current().Version)
	}
}

func TestWatcherFollowsAReplacedDirectoryAndReportsAMissingFile(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "keyring")
	write := func(version int64) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "keyring.json"), encode(t, validFile(version)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	m := NewMetrics(nil)
	w, err := NewWatcher(filepath.Join(dir, "keyring.json"), WatcherOptions{PollInterval: time.Hour, Logger: quietLogger(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	write(2)
	waitFor(t, 5*time.Second, "version 2", func() bool { return w.Current().Version == 2 })
	// The directory disappears and comes back: with an hour between polls, only a renewed watch
	// can see version 3.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	write(3)
	waitFor(t, 5*time.Second, "version 3 after the directory was replaced", func() bool { return w.Current().Version == 3 })

	// A file that stays missing is reported (a swap hides it only for an instant).
	w2, err := NewWatcher(filepath.Join(dir, "keyring.json"), WatcherOptions{Logger: quietLogger(), Metrics: NewMetrics(nil)})
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(filepath.Join(dir, "keyring.json"))
	for range missingReportAfter - 1 {
		w2.Reload()
	}
	if w2.LastError() != nil {
		t.Errorf("a briefly missing file was reported: %v", w2.LastError())
	}
	w2.Reload()
	if w2.LastError() == nil || !strings.Contains(w2.LastError().Error(), "has disappeared") || w2.Current().Version != 3 {
		t.Errorf("a lasting absence: last error %v, version %d", w2.LastError(), w2.Current().Version)
	}
}
