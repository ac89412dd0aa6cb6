package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// privateFiles readies the SQLite file at path, in a folder that exists, so that no other
// local user can read it whatever the umask. The database is created 0600 before SQLite
// opens it, because SQLite creates a database 0644 less the umask and gives its -wal and
// -shm files the database's own mode. Files an earlier version left open to others are
// closed to them. The folder is left as it is — DATA_DIR is created 0700, another folder
// may be the current directory or shared on purpose — with a warning when others may list
// it; the files in it are private either way.
func privateFiles(path string, log *slog.Logger) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the database folder is open to other users; the files in it are not, but `chmod 700` it to hide them too",
			"folder", dir, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	switch f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); {
	case err == nil:
		f.Close()
		// Exactly 0600, also under a umask that takes the owner's own bits.
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("create database: %w", err)
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create database: %w", err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fi.Mode().Perm()&^0o077); err != nil {
			log.Warn("other users may read this database file", "file", p, "err", err)
		}
	}
	return nil
}
