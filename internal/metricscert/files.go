package metricscert

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/utils/clock"
)

// dirWriter writes the leaf the way the kubelet updates a Secret volume: the files live in a
// timestamped directory, "..data" links to it, tls.crt and tls.key link through "..data", and an
// update writes a new directory and swaps "..data" in one rename. The certificate watcher
// therefore reads the old pair or the new one, never a new certificate with an old key.
type dirWriter struct {
	dir     string
	clock   clock.Clock
	current map[string][]byte
}

func (w *dirWriter) update(files map[string][]byte) error {
	if w.unchanged(files) {
		return nil
	}
	ts, err := os.MkdirTemp(w.dir, ".."+w.clock.Now().UTC().Format("2006_01_02_15_04_05")+".")
	if err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(ts, name), data, 0o600); err != nil {
			return err
		}
	}
	old, _ := os.Readlink(filepath.Join(w.dir, "..data"))
	tmp := filepath.Join(w.dir, "..data_tmp")
	_ = os.Remove(tmp) // left by a crash between its creation and the rename
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, "..data")); err != nil {
		return err
	}
	for name := range files {
		if err := link(w.dir, name); err != nil {
			return err
		}
	}
	if old != "" && old != filepath.Base(ts) {
		_ = os.RemoveAll(filepath.Join(w.dir, old))
	}
	w.current = files
	return nil
}

// unchanged: the files already hold exactly this (in this process, or before a restart).
func (w *dirWriter) unchanged(files map[string][]byte) bool {
	for name, data := range files {
		if w.current != nil {
			if !bytes.Equal(w.current[name], data) {
				return false
			}
			continue
		}
		onDisk, err := os.ReadFile(filepath.Join(w.dir, name))
		if err != nil || !bytes.Equal(onDisk, data) {
			return false
		}
	}
	return true
}

// link makes dir/name a symlink to ..data/name, replacing a regular file of that name.
func link(dir, name string) error {
	p := filepath.Join(dir, name)
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case fi.Mode()&os.ModeSymlink != 0:
		return nil
	default:
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("replacing %s with a link: %w", name, err)
		}
	}
	return os.Symlink(filepath.Join("..data", name), p)
}
