// Package db embeds Mailer's SQL migrations, one set per dialect, so a binary never reads
// them from the source tree at run time.
package db

import (
	"embed"
	"io/fs"
)

//go:embed migrations
var files embed.FS

// Migrations returns the migration files of a dialect ("sqlite" or "postgres").
func Migrations(dialect string) fs.FS {
	sub, err := fs.Sub(files, "migrations/"+dialect)
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
