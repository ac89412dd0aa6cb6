package store

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// InstallationID returns this installation's id, making it on the first call: ten random
// bytes in lower-case base32. It is part of every Message-ID, so two installations (or a
// database started afresh) never give different mail the same one.
func (s *Store) InstallationID(ctx context.Context) (string, error) {
	var uid []string
	if err := s.DB.NewRaw("SELECT uid FROM installation WHERE id = 1").Scan(ctx, &uid); err != nil {
		return "", err
	}
	if len(uid) == 1 {
		return uid[0], nil
	}
	b := make([]byte, 10)
	rand.Read(b)
	fresh := strings.ToLower(base32.StdEncoding.EncodeToString(b))
	// Two processes starting at once: the first insert wins and both read it back.
	if _, err := s.DB.NewRaw("INSERT INTO installation (id, uid, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING",
		fresh, s.now()).Exec(ctx); err != nil {
		return "", err
	}
	uid = nil
	if err := s.DB.NewRaw("SELECT uid FROM installation WHERE id = 1").Scan(ctx, &uid); err != nil || len(uid) == 0 {
		return "", err
	}
	return uid[0], nil
}
