// Package filewatch follows files mounted from a Secret: the kubelet swaps them through a
// `..data` symlink, so the directories are watched (not the files), a burst of events may come
// for one swap, a directory may be removed and recreated, and file notifications may not be
// available at all. The caller's reload reads the files and makes a repeat a no-op (a digest);
// this package only decides when to call it. The keyring watcher (internal/keyring) and the
// serving-certificate watcher (internal/server/tlsserve) both follow their files with it.
package filewatch

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Follow calls reload whenever a file in dirs may have changed, until ctx ends: once at the
// start (a change between the caller's first read and the watch), on every notification from
// one of dirs, every poll, and after a watched directory was replaced or a watch was lost (it is
// watched again within a second). Without file notifications it polls only. name prefixes its
// log lines.
func Follow(ctx context.Context, log *slog.Logger, name string, dirs []string, poll time.Duration, reload func()) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn(name+": no file notifications, polling only", "error", err, "interval", poll)
	} else {
		defer func() { _ = fw.Close() }()
		watch(log, name, fw, dirs)
	}
	reload()
	var events chan fsnotify.Event
	var errs chan error
	if fw != nil {
		events, errs = fw.Events, fw.Errors
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	rewatch := time.NewTicker(time.Second)
	defer rewatch.Stop()
	lost := func() bool { return fw != nil && len(fw.WatchList()) < len(dirs) }
	for {
		select {
		case <-ctx.Done():
			return
		case <-rewatch.C:
			if lost() {
				watch(log, name, fw, dirs)
				reload()
			}
		case ev := <-events:
			// A directory itself went away (a volume remount, a test): watch its replacement.
			if ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0 && slices.Contains(dirs, ev.Name) {
				watch(log, name, fw, dirs)
			}
			reload()
		case err := <-errs:
			log.Warn(name+": file notification error; watching again", "error", err)
			watch(log, name, fw, dirs)
			reload()
		case <-ticker.C:
			if lost() {
				watch(log, name, fw, dirs)
			}
			reload()
		}
	}
}

// watch (re-)adds the watches on dirs; failing that, polling carries on and the watch is tried
// again.
func watch(log *slog.Logger, name string, fw *fsnotify.Watcher, dirs []string) {
	for _, dir := range dirs {
		_ = fw.Remove(dir)
		if err := fw.Add(dir); err != nil {
			log.Debug(name+": cannot watch the directory yet; retrying", "dir", dir, "error", err)
		}
	}
}
