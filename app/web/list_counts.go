package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"mailer/app/cache"
	"mailer/app/mailing"
	"mailer/views/components"
)

// listCountStore counts what a list's search and filters match, for "1–25 of 2,000".
type listCountStore interface {
	CountClientList(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (int, error)
	CountMessageList(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (int, error)
	CountMailingList(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (int, error)
	CountLayoutList(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (int, error)
	CountSuppressionList(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (int, error)
}

// countTTL bounds what the data versions cannot see: a mailing's status changes as the
// clock passes its end, without a write.
const countTTL = time.Minute

// countList puts the list's total and the page's place in it into l. A count reads every
// match, where a keyset page reads 26 rows: it comes from the cache, under the data version
// of what the reader sees (bumped by every write), like the home figures — so paging,
// sorting and reloading a list cost one count per change of its data, and a change shows
// at once.
func (s *Server) countList(c *fiber.Ctx, kind string, p mailing.ListParams, l *components.ListState, shown int,
	count func(ctx context.Context, scope mailing.Scope, p mailing.ListParams) (int, error)) error {
	ctx, scope := c.UserContext(), readScope(c)
	// The key names what the count depends on: the reader's view of the data and the
	// filters (hashed: a search may be long); not the sort or the page.
	h := sha256.Sum256([]byte(p.Q + "\x00" + p.Status + "\x00" + p.Tag))
	key := "count:" + kind + ":" + s.Versions.Of(ctx, scope) + ":" + hex.EncodeToString(h[:12])
	total, err := cache.Get(ctx, s.Cache, key, countTTL, func() (int, error) { return count(ctx, scope, p) })
	if err != nil {
		return err
	}
	at, _ := strconv.Atoi(c.Query("at"))
	l.Count(total, at, shown, p.Limit)
	return nil
}
