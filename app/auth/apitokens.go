package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"

	"mailer/app/mailing"
)

// NewAPIToken makes a token value: the prefix and 256 random bits, base64url. Its SHA-256
// is enough protection at rest: a value this random cannot be guessed from its hash.
func NewAPIToken() (value, hash string) {
	b := make([]byte, 32)
	rand.Read(b)
	value = mailing.APITokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return value, HashToken(value)
}

// apiTokenShown is how much of a value lists show: the prefix and 8 random characters.
const apiTokenShown = len(mailing.APITokenPrefix) + 8

// CreateAPIToken makes a named token for u and returns it with its value, which is never
// stored and cannot be shown again.
func (s *Service) CreateAPIToken(ctx context.Context, u *mailing.User, name string, readOnly bool) (*mailing.APIToken, string, error) {
	name, problem := mailing.ValidateTokenName(name)
	if problem != "" {
		return nil, "", invalid(map[string]string{"name": problem})
	}
	value, hash := NewAPIToken()
	t := &mailing.APIToken{UserID: u.ID, Name: name, Prefix: value[:apiTokenShown], Hash: hash, ReadOnly: readOnly}
	if err := s.Store.CreateAPIToken(ctx, t); err != nil {
		return nil, "", err
	}
	s.Log.Info("api token created", "user_id", u.ID, "token_id", t.ID, "read_only", readOnly)
	return t, value, nil
}

// APITokenUser returns the token and user a bearer value stands for; EUNAUTHORIZED for an
// unknown, malformed or revoked value and for a blocked owner — all alike, so the answer
// tells a guesser nothing.
func (s *Service) APITokenUser(ctx context.Context, value string) (*mailing.APIToken, *mailing.User, error) {
	if !strings.HasPrefix(value, mailing.APITokenPrefix) || len(value) != len(mailing.APITokenPrefix)+43 {
		return nil, nil, errBadToken
	}
	t, u, err := s.Store.APITokenUser(ctx, HashToken(value))
	if mailing.ErrorCode(err) == mailing.ENOTFOUND {
		return nil, nil, errBadToken
	}
	return t, u, err
}

var errBadToken = &mailing.Error{Code: mailing.EUNAUTHORIZED, Message: "api.bad_token"}
