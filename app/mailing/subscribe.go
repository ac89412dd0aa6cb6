package mailing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// SubscribeForm is a user's public subscribe form at /subscribe/{Key}.
type SubscribeForm struct {
	UserID    int64  `bun:",pk"`
	Key       string `bun:"form_key"`
	Enabled   bool
	Tag       string
	UpdatedAt time.Time
}

// Consent records a confirmed subscription: when, from which address and form.
type Consent struct {
	ID          int64 `bun:",pk,autoincrement"`
	OwnerID     int64
	ClientID    int64 `bun:",nullzero"`
	Email       string
	IP          string `bun:"ip"`
	FormKey     string
	ConfirmedAt time.Time
	// RequestedAt is when the form was sent; TokenHash identifies the confirmation link,
	// so it is spent once.
	RequestedAt time.Time
	TokenHash   string
}

// SubscribeTTL is how long a subscribe confirmation link works.
const SubscribeTTL = 48 * time.Hour

// NewSubscribeKey makes a form key: 128 random bits, base64url. The key is public (it is in
// the owner's page); it only has to be unguessable, so that switching to a new one ends the
// old link.
func NewSubscribeKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ValidateSubscribeTag normalises a form's tag (one tag, or none) and returns the
// translation key of what is wrong with it, or "".
func ValidateSubscribeTag(tag string) (string, string) {
	if strings.Contains(tag, ",") {
		return tag, "subscribe.one_tag"
	}
	tags, problem := ParseTags(tag)
	if problem != "" || len(tags) == 0 {
		return strings.TrimSpace(tag), problem
	}
	return tags[0], ""
}

// ValidateSubscriber normalises what a visitor typed on a subscribe form by the rules of a
// client's fields, and returns field → translation key for every broken rule.
func ValidateSubscriber(email, name string) (string, string, map[string]string) {
	c := Client{Email: email, FullName: name}
	errs := c.Validate()
	delete(errs, "comment")
	if msg, ok := errs["full_name"]; ok {
		delete(errs, "full_name")
		errs["name"] = msg
	}
	return c.Email, c.FullName, errs
}

// SubscribeRequest is what a subscribe confirmation link carries: the form it was asked on,
// the address and name typed, and when. The link is the only state of a request not yet
// confirmed, so a bot filling the form writes nothing to the database.
type SubscribeRequest struct {
	Key   string `json:"k"`
	Email string `json:"e"`
	Name  string `json:"n"`
	Unix  int64  `json:"t"`
}

// At is when the request was made.
func (r SubscribeRequest) At() time.Time { return time.Unix(r.Unix, 0).UTC() }

// Expired reports whether the link is older than SubscribeTTL at now.
func (r SubscribeRequest) Expired(now time.Time) bool { return !now.Before(r.At().Add(SubscribeTTL)) }

// SubscribeToken signs r: base64url of its JSON, a dot, and an HMAC of that JSON.
func SubscribeToken(secret []byte, r SubscribeRequest) string {
	payload, _ := json.Marshal(r)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + subscribeMAC(secret, payload)
}

func subscribeMAC(secret, payload []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("subscribe|"))
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// ParseSubscribeToken returns the request a token signed and the hash that identifies it
// (one request, one hash, however the token is spelt); ok is false for anything not signed
// under secret. Expiry is the caller's check, against its clock.
func ParseSubscribeToken(secret []byte, token string) (r SubscribeRequest, hash string, ok bool) {
	enc, mac, found := strings.Cut(token, ".")
	if !found || len(token) > 4096 {
		return r, "", false
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil || !hmac.Equal([]byte(subscribeMAC(secret, payload)), []byte(mac)) {
		return r, "", false
	}
	if json.Unmarshal(payload, &r) != nil || r.Key == "" || r.Email == "" || r.Unix <= 0 {
		return r, "", false
	}
	sum := sha256.Sum256(payload)
	return r, hex.EncodeToString(sum[:]), true
}
