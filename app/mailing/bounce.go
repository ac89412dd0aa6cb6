package mailing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strconv"
	"strings"
)

// verpEncoding is lower-case base32 without padding: some mail servers lower-case the local
// part of an address, and a token must survive that.
var verpEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// VERPToken names a delivery in a bounce address: its id and an HMAC of it under the app's
// secret, so a bounce can be tied to exactly one delivery and nobody can make up a token
// that suppresses someone else's address. Ten bytes of HMAC (16 characters) keep the local
// part short (well under the 64 octets RFC 5321 allows) and are not guessable.
func VERPToken(secret []byte, deliveryID int64) string {
	id := strconv.FormatInt(deliveryID, 10)
	return id + "-" + verpMAC(secret, id)
}

func verpMAC(secret []byte, id string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("verp|" + id))
	return verpEncoding.EncodeToString(m.Sum(nil)[:10])
}

// ParseVERPToken returns the delivery id of a valid token.
func ParseVERPToken(secret []byte, token string) (int64, bool) {
	token = strings.ToLower(token)
	idPart, mac, ok := strings.Cut(token, "-")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(idPart, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != idPart {
		return 0, false
	}
	return id, hmac.Equal([]byte(verpMAC(secret, idPart)), []byte(mac))
}

// VERPAddress is the envelope sender of a delivery when bounces go to returnPath
// (bounces@example.com → bounces+{token}@example.com): the server that bounces the mail
// sends the report to that address, which carries the delivery.
func VERPAddress(returnPath string, secret []byte, deliveryID int64) string {
	at := strings.LastIndexByte(returnPath, '@')
	if at < 0 {
		return returnPath
	}
	return returnPath[:at] + "+" + VERPToken(secret, deliveryID) + returnPath[at:]
}

// ParseVERPAddress returns the delivery named by addr, an address VERPAddress made for
// returnPath; ok is false for any other address or a token that does not verify.
func ParseVERPAddress(returnPath string, secret []byte, addr string) (int64, bool) {
	addr = strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
	rp := strings.ToLower(returnPath)
	at, rat := strings.LastIndexByte(addr, '@'), strings.LastIndexByte(rp, '@')
	if at < 0 || rat < 0 || addr[at:] != rp[rat:] {
		return 0, false
	}
	token, ok := strings.CutPrefix(addr[:at], rp[:rat]+"+")
	if !ok {
		return 0, false
	}
	return ParseVERPToken(secret, token)
}

// MessageID is the Message-ID (without angle brackets) of a delivery's mail,
// {delivery id}.{run id}.{installation id}@{domain}: the same for every try of the delivery
// (so receivers can drop a crash's duplicate), unique across installations (the
// installation id is generated once per database), and a report that quotes it leads back
// to the exact delivery.
func MessageID(deliveryID, runID int64, installation, domain string) string {
	return strconv.FormatInt(deliveryID, 10) + "." + strconv.FormatInt(runID, 10) + "." + installation + "@" + domain
}

// ParseMessageID returns the run and delivery of a Message-ID that MessageID made, with or
// without angle brackets; ok is false for any other id. Such an id is not secret (it is in
// every mail's header), so whoever reports by it must also be trusted or checked.
func ParseMessageID(id string) (runID, deliveryID int64, ok bool) {
	id = strings.Trim(strings.TrimSpace(id), "<>")
	local, _, found := strings.Cut(id, "@")
	if !found {
		return 0, 0, false
	}
	parts := strings.Split(local, ".")
	if len(parts) != 3 || parts[2] == "" {
		return 0, 0, false
	}
	d, err1 := strconv.ParseInt(parts[0], 10, 64)
	r, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || r <= 0 || d <= 0 || parts[0][0] == '+' || parts[1][0] == '+' {
		return 0, 0, false
	}
	return r, d, true
}

// BounceTarget is the delivery a bounce report was matched to.
type BounceTarget struct {
	DeliveryID int64
	RunID      int64
	MailingID  int64
	OwnerID    int64
	Email      string
}

// BounceKinds are every kind of bounce report, as webhooks name them.
var BounceKinds = []string{BounceHard, BounceSoft, BounceComplaint}
