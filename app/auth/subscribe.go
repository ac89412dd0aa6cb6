package auth

import (
	"context"

	"mailer/app/mailing"
)

// Subscribe handles a visitor's subscribe form: it emails the address a link that adds it
// to the form owner's clients once confirmed. What the visitor sees next is the same
// whether the address is a client already, a stranger, or a bot's (bot: the honeypot field
// was filled, and nothing is sent). Only an unknown or switched-off form (ENOTFOUND), bad
// fields (EINVALID) and the rate limit (ERATELIMIT) answer otherwise.
func (s *Service) Subscribe(ctx context.Context, key, email, name, ip, lang string, bot bool) error {
	f, err := s.Store.SubscribeFormByKey(ctx, key)
	if err != nil {
		return err
	}
	// Per IP and per address: a script cannot fill someone's mailbox with confirmations
	// through any number of forms.
	norm, _ := mailing.NormalizeEmail(email)
	if err := s.Limiter.Allow(ctx, "subscribe", s.Config.RateSubscribe, ip, norm); err != nil {
		return err
	}
	email, name, fields := mailing.ValidateSubscriber(email, name)
	if len(fields) > 0 {
		return invalid(fields)
	}
	if bot {
		s.Log.Info("subscribe form: honeypot filled", "owner_id", f.UserID)
		return nil
	}
	token := mailing.SubscribeToken(s.Config.SecretKey, mailing.SubscribeRequest{
		Key: f.Key, Email: email, Name: name, Unix: s.Store.Clock.Now().Unix()})
	s.Log.Info("subscribe requested", "owner_id", f.UserID)
	s.sendMail(email, lang, "email.subscribe", map[string]any{"Email": email, "Link": s.link("/subscribe/confirm/" + token)})
	return nil
}

// SubscribeLink is a subscribe confirmation link as read: the request it signed, the form
// it goes to, and whether it has been used already.
type SubscribeLink struct {
	Request   mailing.SubscribeRequest
	Hash      string
	Form      *mailing.SubscribeForm
	Confirmed bool
}

// ReadSubscribeLink checks a confirmation link without using it. A used link reads as
// Confirmed (with no form); ErrLinkInvalid for one that is forged, expired, or whose form
// was switched off, given a new key, or whose owner is blocked.
func (s *Service) ReadSubscribeLink(ctx context.Context, token string) (*SubscribeLink, error) {
	r, hash, ok := mailing.ParseSubscribeToken(s.Config.SecretKey, token)
	if !ok {
		return nil, ErrLinkInvalid
	}
	l := &SubscribeLink{Request: r, Hash: hash}
	var err error
	if l.Confirmed, err = s.Store.SubscriptionConfirmed(ctx, hash); err != nil || l.Confirmed {
		return l, err
	}
	if r.Expired(s.Store.Clock.Now()) {
		return nil, ErrLinkInvalid
	}
	f, err := s.Store.SubscribeFormByKey(ctx, r.Key)
	if mailing.ErrorCode(err) == mailing.ENOTFOUND {
		return nil, ErrLinkInvalid
	} else if err != nil {
		return nil, err
	}
	l.Form = f
	return l, nil
}

// ConfirmSubscription uses a confirmation link from ip: the address becomes (or stays) a
// client of the form's owner, with the form's tag, and the consent is recorded. A link
// used before changes nothing and reports already.
func (s *Service) ConfirmSubscription(ctx context.Context, token, ip string) (l *SubscribeLink, cl *mailing.Client, already bool, err error) {
	if l, err = s.ReadSubscribeLink(ctx, token); err != nil {
		return nil, nil, false, err
	}
	if l.Confirmed {
		return l, nil, true, nil
	}
	c := &mailing.Consent{Email: l.Request.Email, IP: ip, RequestedAt: l.Request.At(), TokenHash: l.Hash}
	cl, already, err = s.Store.ConfirmSubscription(ctx, l.Form, l.Request.Name, c)
	if err == nil && !already {
		s.Log.Info("subscription confirmed", "owner_id", l.Form.UserID, "client_id", cl.ID)
	}
	return l, cl, already, err
}
