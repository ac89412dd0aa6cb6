package web

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/hibiken/asynqmon"
)

// queuesPath is where asynqmon, Asynq's queue monitor, is mounted for managers.
const queuesPath = "/manager/queues"

func isQueuesPath(p string) bool { return p == queuesPath || strings.HasPrefix(p, queuesPath+"/") }

// queueMonitor mounts asynqmon, read-only: pausing or deleting a queue stops everyone's
// sending, which is beyond a manager's read-only oversight (operators have the CLI and
// Redis). It has no authentication of its own: the routes put requireManager in front. Its page needs an inline script and makes XHR POSTs without our
// form token, so this path alone gets a CSP that allows inline script (securityHeaders) and
// an Origin check in place of the CSRF token (checkCSRF); SameSite cookies do the rest.
func (s *Server) queueMonitor() fiber.Handler {
	s.queues = asynqmon.New(asynqmon.Options{RootPath: queuesPath, RedisConnOpt: s.Redis.ConnOpt(), ReadOnly: true})
	return adaptor.HTTPHandler(s.queues)
}

// sameOrigin reports whether an unsafe request comes from a page of this site.
func (s *Server) sameOrigin(c *fiber.Ctx) bool {
	want := s.Config.BaseURL.Scheme + "://" + s.Config.BaseURL.Host
	if o := c.Get(fiber.HeaderOrigin); o != "" {
		return o == want
	}
	ref, err := url.Parse(c.Get(fiber.HeaderReferer))
	return err == nil && ref.Scheme+"://"+ref.Host == want
}
