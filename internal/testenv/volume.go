package testenv

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Volume is a directory updated the way the kubelet updates a mounted Secret or ConfigMap: the
// files live in a timestamped directory, "..data" is a symlink to it, each file is a symlink
// through "..data", and an update writes a new directory and swaps "..data" in one rename. A
// reader therefore sees the old set of files or the new one, never a mix, and a watcher of the
// files themselves misses the swap (the case the servers' file followers exist for).
type Volume struct {
	Dir string

	mu      sync.Mutex
	current map[string][]byte
}

// NewVolume is an empty volume in dir (an existing, empty directory).
func NewVolume(dir string) *Volume { return &Volume{Dir: dir} }

// Update replaces the volume's files with files; it reports whether anything changed.
func (v *Volume) Update(files map[string][]byte) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if maps.EqualFunc(files, v.current, func(a, b []byte) bool { return string(a) == string(b) }) {
		return false, nil
	}
	ts, err := os.MkdirTemp(v.Dir, fmt.Sprintf("..%s.", time.Now().UTC().Format("2006_01_02_15_04_05")))
	if err != nil {
		return false, err
	}
	names := slices.Sorted(maps.Keys(files))
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(ts, name), files[name], 0o600); err != nil {
			return false, err
		}
	}
	old, _ := os.Readlink(filepath.Join(v.Dir, "..data"))
	tmp := filepath.Join(v.Dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(v.Dir, "..data")); err != nil {
		return false, err
	}
	for _, name := range names {
		link := filepath.Join(v.Dir, name)
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				return false, err
			}
		}
	}
	if old != "" {
		_ = os.RemoveAll(filepath.Join(v.Dir, old))
	}
	v.current = maps.Clone(files)
	return true, nil
}

// Path is the path of one of the volume's files.
func (v *Volume) Path(name string) string { return filepath.Join(v.Dir, name) }
