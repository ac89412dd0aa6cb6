package mail

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"time"
)

// SMTPSender sends each message over a new connection to the server in SMTP_URL.
type SMTPSender struct {
	addr     string
	host     string
	implicit bool // smtps://: TLS from the first byte
	auth     smtp.Auth
	timeout  time.Duration
}

// NewSMTPSender parses smtp://user:pass@host:port or smtps://….
func NewSMTPSender(rawURL string) (*SMTPSender, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	s := &SMTPSender{host: u.Hostname(), implicit: u.Scheme == "smtps", timeout: 30 * time.Second}
	port := u.Port()
	if port == "" {
		port = "25"
		if s.implicit {
			port = "465"
		}
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		pw, _ := u.User.Password()
		s.auth = smtp.PlainAuth("", u.User.Username(), pw, s.host)
	}
	return s, nil
}

func (s *SMTPSender) Send(ctx context.Context, m Message) (string, error) {
	raw, err := Build(m)
	if err != nil {
		return "", err
	}
	from, _ := mail.ParseAddress(m.From)
	to, _ := mail.ParseAddress(m.To)

	d := net.Dialer{Timeout: s.timeout}
	var conn net.Conn
	if s.implicit {
		conn, err = tls.DialWithDialer(&d, "tcp", s.addr, &tls.Config{ServerName: s.host})
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return "", err
	}
	deadline := time.Now().Add(s.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return "", err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && !s.implicit {
		if err := c.StartTLS(&tls.Config{ServerName: s.host}); err != nil {
			return "", err
		}
	}
	if s.auth != nil {
		if err := c.Auth(s.auth); err != nil {
			return "", err
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return "", err
	}
	if err := c.Rcpt(to.Address); err != nil {
		return "", err
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := w.Write(raw); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	c.Quit()
	return "250 accepted", nil
}
