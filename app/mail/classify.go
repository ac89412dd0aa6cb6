package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Scope says whom a failed send is about.
type Scope int

const (
	// ScopeRecipient: the server answered for this message or recipient (RCPT, DATA or the
	// end of data refused), or the connection broke once the recipient was named. Today's
	// rules apply: 4xx and network failures are retried, 5xx is final.
	ScopeRecipient Scope = iota
	// ScopeRelay: the failure says nothing about the recipient — the server was not
	// reachable (refused, reset, timed out, no greeting), TLS or AUTH failed, it answered
	// 421, or dropped the connection before the recipient was named. Sending pauses for
	// everyone and no recipient's try is spent.
	ScopeRelay
	// ScopeMessage: the message could not be built (a bad address, a header); no SMTP
	// exchange took place and retrying cannot help.
	ScopeMessage
)

func (s Scope) String() string {
	switch s {
	case ScopeRelay:
		return "relay"
	case ScopeMessage:
		return "message"
	}
	return "recipient"
}

// Failure is what a send's error says. It is the one place SMTP errors are classified:
// the engine decides on it whether to retry, pause for the relay, or give up, and the
// statistics group failures by its Reason.
type Failure struct {
	Scope Scope
	// Code is the server's reply code (550), 0 when there was no reply.
	Code int
	// Enhanced is the reply's RFC 3463 enhanced status code ("5.1.1"), "" without one.
	Enhanced string
	// Temporary reports that the same message may succeed later.
	Temporary bool
	// Reason is the failure without addresses, ports or the server's free text:
	// "550 5.1.1", "421 4.4.2", "connection refused", "timeout", "tls", …
	Reason string
}

// RelayError is a failure on the way to naming the recipient: dialing, the greeting, EHLO,
// STARTTLS, AUTH, or MAIL FROM on a connection that then broke. Stage says which.
type RelayError struct {
	Stage string // connect, greeting, ehlo, starttls, auth, mail
	Err   error
}

func (e *RelayError) Error() string { return "smtp " + e.Stage + ": " + e.Err.Error() }
func (e *RelayError) Unwrap() error { return e.Err }

func relayErr(stage string, err error) error {
	if err == nil {
		return nil
	}
	var re *RelayError
	if errors.As(err, &re) {
		return err
	}
	return &RelayError{Stage: stage, Err: err}
}

var enhancedRe = regexp.MustCompile(`^([245])\.(\d{1,3})\.(\d{1,3})(\s|$)`)

// Classify says what err, returned by a Sender, means.
func Classify(err error) Failure {
	if err == nil {
		return Failure{}
	}
	f := Failure{Scope: ScopeRecipient, Temporary: true}
	var se *SMTPError
	if errors.As(err, &se) {
		f.Code = se.Code
		if m := enhancedRe.FindStringSubmatch(se.Msg); m != nil {
			f.Enhanced = m[1] + "." + m[2] + "." + m[3]
		}
		f.Temporary = se.Code < 500
		f.Reason = strconv.Itoa(se.Code)
		if f.Enhanced != "" {
			f.Reason += " " + f.Enhanced
		}
	} else {
		f.Reason = netReason(err)
	}
	var re *RelayError
	switch {
	case errors.Is(err, ErrHeaderInjection), errors.Is(err, ErrHeaderTooLong), errors.Is(err, errBadAddress):
		f.Scope, f.Temporary, f.Reason = ScopeMessage, false, "message not built: "+err.Error()
	case errors.As(err, &re):
		// A 5xx at the greeting or to AUTH is the relay's (a wrong password, a blocked
		// client): no recipient would fare better, so it pauses rather than fails them.
		f.Scope, f.Temporary = ScopeRelay, true
		if se == nil && (re.Stage == "starttls" || re.Stage == "auth") && f.Reason != "timeout" {
			f.Reason = re.Stage + " failed"
		}
	case f.Code == 421:
		f.Scope = ScopeRelay // the service is closing the connection: RFC 5321 §3.8
	}
	return f
}

// netReason names a failure without a reply by its class.
func netReason(err error) string {
	var dns *net.DNSError
	var cert *x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	var rec tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.As(err, &dns):
		return "host not found"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return "connection closed"
	case errors.As(err, &cert), errors.As(err, &host), errors.As(err, &inv), errors.As(err, &rec), errors.As(err, &alert):
		return "tls"
	case strings.HasPrefix(err.Error(), "smtp: unexpected reply"), strings.Contains(err.Error(), ": smtp: unexpected reply"):
		return "unexpected reply"
	}
	return scrub(err.Error())
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

var scrubRe = regexp.MustCompile(`\[[0-9a-fA-F:.]+\](:\d+)?|\d{1,3}(\.\d{1,3}){3}(:\d+)?|<[^>]*>|[^\s<>]+@[^\s<>]+|:\d{2,5}\b`)

// scrub takes addresses and ports out of an error text, so equal failures read alike.
func scrub(s string) string {
	s = scrubRe.ReplaceAllString(s, "…")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
