package web

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"

	"mailer/views/viewctx"
)

// flash queues a message for the next page the user sees: this response if it renders, the
// next one after a redirect.
func (s *Server) flash(c *fiber.Ctx, kind, msgID string, data ...any) {
	p := page(c)
	p.Flashes = append(p.Flashes, viewctx.Flash{Kind: kind, Text: s.t(c, msgID, data...)})
}

func (s *Server) signFlashes(f []viewctx.Flash) string {
	b, _ := json.Marshal(f)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + s.sign("flash|"+payload)
}

func (s *Server) readFlashes(v string) []viewctx.Flash {
	payload, sig, ok := strings.Cut(v, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.sign("flash|"+payload))) {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var f []viewctx.Flash
	if json.Unmarshal(b, &f) != nil || len(f) > 10 {
		return nil
	}
	return f
}
