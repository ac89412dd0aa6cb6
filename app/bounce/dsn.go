package bounce

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"

	"mailer/app/mailing"
)

// ErrNotAReport: the mail is not a delivery status notification or an abuse report (or
// one too broken to read). The poller leaves such mail in the mailbox and counts it.
var ErrNotAReport = errors.New("not a DSN or ARF report")

// MailReport is what a bounce mail says: its reports, and the addresses it was sent to (to
// find a VERP token in).
type MailReport struct {
	Reports []Report
	// VERP holds the envelope addresses the mail names: the To/Delivered-To/X-Original-To
	// headers of the bounce, the Original-Mail-From of an abuse report, the Return-Path of
	// the quoted original.
	VERP []string
}

// maxParts bounds the parts looked at: a report has three.
const maxParts = 10

// ParseReport reads an RFC 3464 delivery status notification (multipart/report;
// report-type=delivery-status) or an RFC 5965 abuse report (report-type=feedback-report).
// A DSN's failed recipients are hard bounces when the status is 5.1.x (or an unenhanced
// 550/551/553), soft otherwise (a full mailbox, a 4.x.x given up on, a permanent failure
// that names no reason); delayed, delivered and relayed recipients carry nothing. Every
// abuse report is a complaint, except Feedback-Type not-spam.
func ParseReport(raw []byte) (MailReport, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return MailReport{}, ErrNotAReport
	}
	var out MailReport
	for _, h := range []string{"To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To"} {
		for _, v := range msg.Header[textproto.CanonicalMIMEHeaderKey(h)] {
			if list, err := mail.ParseAddressList(v); err == nil {
				for _, a := range list {
					out.VERP = append(out.VERP, a.Address)
				}
			} else {
				out.VERP = append(out.VERP, strings.Trim(strings.TrimSpace(v), "<>"))
			}
		}
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["boundary"] == "" {
		return MailReport{}, ErrNotAReport
	}
	kind := strings.ToLower(params["report-type"])
	if kind != "delivery-status" && kind != "feedback-report" {
		return MailReport{}, ErrNotAReport
	}
	var status []byte
	var original textproto.MIMEHeader
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for i := 0; i < maxParts; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return MailReport{}, ErrNotAReport
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		body, err := io.ReadAll(io.LimitReader(p, 1<<20))
		if err != nil {
			return MailReport{}, ErrNotAReport
		}
		switch pt {
		case "message/delivery-status", "message/global-delivery-status", "message/feedback-report":
			status = body
		case "message/rfc822", "text/rfc822-headers", "message/rfc822-headers", "message/global", "message/global-headers":
			if h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(body))).ReadMIMEHeader(); err == nil || len(h) > 0 {
				original = h
			}
		}
	}
	if status == nil {
		return MailReport{}, ErrNotAReport
	}
	var msgID string
	if original != nil {
		msgID = original.Get("Message-Id")
		if rp := strings.Trim(strings.TrimSpace(original.Get("Return-Path")), "<>"); rp != "" {
			out.VERP = append(out.VERP, rp)
		}
	}
	blocks := headerBlocks(status)
	if len(blocks) == 0 {
		return MailReport{}, ErrNotAReport
	}
	if kind == "feedback-report" {
		f := blocks[0]
		if strings.EqualFold(strings.TrimSpace(f.Get("Feedback-Type")), "not-spam") {
			return out, nil
		}
		if from := strings.Trim(strings.TrimSpace(f.Get("Original-Mail-From")), "<>"); from != "" {
			out.VERP = append(out.VERP, from)
		}
		rcpt := strings.Trim(strings.TrimSpace(f.Get("Original-Rcpt-To")), "<>")
		if rcpt == "" && original != nil {
			if a, err := mail.ParseAddress(original.Get("To")); err == nil {
				rcpt = a.Address
			}
		}
		reason := "complaint " + strings.TrimSpace(f.Get("Feedback-Type"))
		if ua := f.Get("User-Agent"); ua != "" {
			reason += " (" + ua + ")"
		}
		out.Reports = []Report{{Email: rcpt, Kind: mailing.BounceComplaint, Reason: reason, MessageID: msgID}}
		return out, nil
	}
	// A DSN: the per-message block, then one per recipient.
	for _, f := range blocks[1:] {
		action := strings.ToLower(strings.TrimSpace(f.Get("Action")))
		if action != "failed" {
			continue
		}
		rcpt := addressField(f.Get("Final-Recipient"))
		if rcpt == "" {
			rcpt = addressField(f.Get("Original-Recipient"))
		}
		st := strings.TrimSpace(f.Get("Status"))
		if i := strings.IndexAny(st, " ("); i > 0 {
			st = st[:i]
		}
		diag := strings.TrimSpace(f.Get("Diagnostic-Code"))
		out.Reports = append(out.Reports, Report{Email: rcpt, Kind: dsnKind(st, diag), Reason: strings.TrimSpace(st + " " + diag), MessageID: msgID})
	}
	if len(out.Reports) == 0 && len(blocks) < 2 {
		return MailReport{}, ErrNotAReport
	}
	return out, nil
}

// dsnKind classifies a failed recipient by its status and the SMTP code in its diagnostic
// (Diagnostic-Code: smtp; 550 5.1.1 …) as mailing.SMTPBounce does; what that calls no
// bounce (a policy or content refusal) still counts as soft here, since the server gave up
// on the address: repeated, the soft policy suppresses it.
func dsnKind(status, diag string) string {
	code := 0
	if _, d, ok := strings.Cut(diag, ";"); ok {
		f := strings.Fields(d)
		if len(f) > 0 {
			code, _ = strconv.Atoi(strings.TrimRight(f[0], "-"))
		}
	}
	if code == 0 && len(status) > 0 {
		switch status[0] {
		case '5':
			code = 550
		case '4':
			code = 450
		}
	}
	// "5.0.0" says nothing more than 5xx: the SMTP code decides.
	enhanced := status
	if enhanced == "5.0.0" || enhanced == "4.0.0" {
		enhanced = ""
	}
	if k := mailing.SMTPBounce(code, enhanced); k != "" {
		return k
	}
	return mailing.BounceSoft
}

// addressField reads "rfc822; user@example.com".
func addressField(v string) string {
	if _, a, ok := strings.Cut(v, ";"); ok {
		v = a
	}
	return strings.Trim(strings.TrimSpace(v), "<>")
}

func newBufReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// headerBlocks splits a message/delivery-status body into its header blocks.
func headerBlocks(body []byte) []textproto.MIMEHeader {
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	var out []textproto.MIMEHeader
	for _, blk := range bytes.Split(body, []byte("\n\n")) {
		blk = bytes.TrimSpace(blk)
		if len(blk) == 0 {
			continue
		}
		h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(blk, '\n', '\n')))).ReadMIMEHeader()
		if err != nil && len(h) == 0 {
			continue
		}
		out = append(out, h)
		if len(out) > 100 {
			break
		}
	}
	return out
}
