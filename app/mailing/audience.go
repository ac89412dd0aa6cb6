package mailing

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Tag groups a user's clients; names are compared case-insensitively, kept as first typed.
type Tag struct {
	ID        int64 `bun:",pk,autoincrement"`
	OwnerID   int64
	Name      string
	NameLC    string `bun:"name_lc"`
	CreatedAt time.Time

	Clients int `bun:",scanonly"` // how many of the owner's clients carry it
}

// MaxTagLen bounds a tag's name; MaxTags the tags one client or mailing carries.
const (
	MaxTagLen = 50
	MaxTags   = 50
)

// ParseTags reads tags as a form gives them: comma-separated, maybe in several values.
// Names are trimmed, inner spaces folded, duplicates (in any case) dropped; the
// translation key of what is wrong comes back with what could be read.
func ParseTags(values ...string) (tags []string, problem string) {
	seen := map[string]bool{}
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.Join(strings.Fields(t), " ")
			switch {
			case t == "":
				continue
			case strings.ContainsRune(t, 0):
				problem = "validation.nul"
				continue
			case utf8.RuneCountInString(t) > MaxTagLen:
				problem = "validation.tag_too_long"
				continue
			}
			if lc := strings.ToLower(t); !seen[lc] {
				seen[lc] = true
				tags = append(tags, t)
			}
		}
	}
	if len(tags) > MaxTags {
		return tags[:MaxTags], "validation.too_many_tags"
	}
	return tags, problem
}

// ClientSelection picks some of an owner's clients: the listed ids, or (All) every
// client the list shows for Q and Tag.
type ClientSelection struct {
	IDs []int64
	All bool
	Q   string
	Tag string
}

// Reasons an address is suppressed.
const (
	SuppressUnsubscribed = "unsubscribed"
	SuppressHardBounce   = "hard_bounce"
	SuppressComplaint    = "complaint"
	SuppressSoftBounces  = "soft_bounces"
	SuppressManual       = "manual"
)

// SuppressionReasons are every reason, in the order lists offer them.
var SuppressionReasons = []string{SuppressUnsubscribed, SuppressHardBounce, SuppressComplaint, SuppressSoftBounces, SuppressManual}

// Suppression is an address a user's runs skip, and why.
type Suppression struct {
	ID        int64 `bun:",pk,autoincrement"`
	OwnerID   int64
	Email     string
	Reason    string
	Detail    string
	CreatedAt time.Time

	OwnerEmail string `bun:",scanonly"`
}

// Bounce kinds and where a bounce was learnt.
const (
	BounceHard      = "hard"
	BounceSoft      = "soft"
	BounceComplaint = "complaint"

	BounceFromSMTP    = "smtp"
	BounceFromWebhook = "webhook"
	BounceFromMailbox = "mailbox"
)

// Bounce is a report that mail to an address did not arrive (hard: it never will; soft:
// not now) or that its reader complained.
type Bounce struct {
	ID         int64 `bun:",pk,autoincrement"`
	OwnerID    int64
	Email      string
	Kind       string
	Source     string
	Detail     string
	MailingID  *int64
	DeliveryID *int64
	CreatedAt  time.Time
}

// BounceCounts are the bounces and complaints of a mailing or a period.
type BounceCounts struct {
	Hard, Soft, Complaints int
}

// BouncePolicy is when soft bounces suppress an address: Limit of them within Window.
type BouncePolicy struct {
	SoftLimit  int
	SoftWindow time.Duration
}

// SMTPBounce classifies a mail server's final refusal of a recipient: 5.1.x (no such user
// or domain) is hard, and so is a 550/551/553 without an enhanced code that says otherwise;
// a mailbox that is full or disabled (4.2.x, 5.2.x), a temporary address problem (4.1.x)
// or a 4xx without an enhanced code is soft. Other answers say nothing about the address —
// 421 (the server closing), 4.3/4.4 (the server's or the network's trouble), 5.7 (policy,
// content, relaying) — and are no bounce ("").
func SMTPBounce(code int, enhanced string) string {
	switch {
	case code == 421:
		return ""
	case strings.HasPrefix(enhanced, "5.1."):
		return BounceHard
	case strings.HasPrefix(enhanced, "5.2."), strings.HasPrefix(enhanced, "4.2."), strings.HasPrefix(enhanced, "4.1."):
		return BounceSoft
	case enhanced == "" && code >= 400 && code < 500:
		return BounceSoft
	case enhanced == "" && (code == 550 || code == 551 || code == 553):
		return BounceHard
	}
	return ""
}

// EnhancedCode returns the RFC 3463 enhanced status code that follows the basic code in a
// server's answer ("550 5.1.1 no such user" → "5.1.1"), or "" when there is none.
func EnhancedCode(response string) string {
	r := strings.TrimSpace(response)
	if len(r) < 4 || strings.Trim(r[:3], "0123456789") != "" || (r[3] != ' ' && r[3] != '-') {
		return ""
	}
	word, _, _ := strings.Cut(strings.TrimLeft(r[4:], " "), " ")
	parts := strings.Split(word, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return ""
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return ""
		}
	}
	return word
}
