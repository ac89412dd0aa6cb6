package web

import (
	"crypto/rand"
	"encoding/base64"
)

// newToken is a random token for a key of the user's own in Redis (a CSV import waiting
// for confirmation, an editor's preview).
func newToken() string {
	buf := make([]byte, 32)
	rand.Read(buf)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// validToken accepts only what newToken makes, so a posted value never shapes a Redis key
// beyond it.
func validToken(t string) bool {
	if len(t) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil && len(b) == 32
}
