package sending

import "mailer/app/mailing"

// returnPath is the envelope sender of a delivery's mail: with MAIL_RETURN_PATH set, a VERP
// address that names the delivery (bounces+{token}@domain), so a bounce report that reaches
// the bounce mailbox leads back to it even when the report quotes nothing of the original;
// empty otherwise (the From address is used).
func (e *Engine) returnPath(deliveryID int64) string {
	if e.Options.ReturnPath == "" {
		return ""
	}
	return mailing.VERPAddress(e.Options.ReturnPath, e.Options.Secret, deliveryID)
}
