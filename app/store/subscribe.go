package store

import (
	"context"
	"strings"

	"github.com/uptrace/bun"

	"mailer/app/mailing"
)

// SubscribeForm returns userID's subscribe form, making it (on, no tag, key newKey) the
// first time it is asked for: every user has one.
func (s *Store) SubscribeForm(ctx context.Context, userID int64, newKey string) (*mailing.SubscribeForm, error) {
	f := &mailing.SubscribeForm{UserID: userID, Key: newKey, Enabled: true, UpdatedAt: s.now()}
	if _, err := s.DB.NewInsert().Model(f).On("CONFLICT (user_id) DO NOTHING").Exec(ctx); err != nil {
		return nil, err
	}
	err := s.DB.NewSelect().Model(f).Where("user_id = ?", userID).Scan(ctx)
	return f, notFound(err, "subscribe form")
}

// SubscribeFormByKey returns the form a public link names; ENOTFOUND when no form has the
// key, it is switched off, or its owner is blocked — all alike to the visitor.
func (s *Store) SubscribeFormByKey(ctx context.Context, key string) (*mailing.SubscribeForm, error) {
	f := new(mailing.SubscribeForm)
	err := s.DB.NewSelect().Model(f).
		Join("JOIN users AS u ON u.id = subscribe_form.user_id").
		Where("subscribe_form.form_key = ? AND subscribe_form.enabled AND u.blocked_at IS NULL", key).
		Scan(ctx)
	return f, notFound(err, "subscribe form")
}

// SaveSubscribeForm sets whether f.UserID's form is on and the tag it gives.
func (s *Store) SaveSubscribeForm(ctx context.Context, f *mailing.SubscribeForm) error {
	f.UpdatedAt = s.now()
	res, err := s.DB.NewUpdate().Model(f).Column("enabled", "tag", "updated_at").Where("user_id = ?", f.UserID).Exec(ctx)
	return affected(res, err, "subscribe form")
}

// SetSubscribeKey gives userID's form a new key: the old link and snippets stop working,
// and so do confirmation links sent through them.
func (s *Store) SetSubscribeKey(ctx context.Context, userID int64, key string) error {
	res, err := s.DB.NewUpdate().TableExpr("subscribe_forms").Set("form_key = ?", key).Set("updated_at = ?", s.now()).
		Where("user_id = ?", userID).Exec(ctx)
	return affected(res, err, "subscribe form")
}

// SubscriptionConfirmed reports whether the confirmation link of hash has been used.
func (s *Store) SubscriptionConfirmed(ctx context.Context, hash string) (bool, error) {
	return s.DB.NewSelect().TableExpr("consents").Where("token_hash = ?", hash).Exists(ctx)
}

// ConfirmSubscription spends a confirmation link in one transaction: it records the consent
// (c, whose TokenHash names the link), adds or finds the client of c.Email with name when
// they have none, gives them f's tag, and lifts an "unsubscribed" suppression of the
// address. A complaint stays, and so does the client's unsubscribed mark under it: the
// recipient told their mail provider this mail is unwanted, which only the owner may undo.
// A link already used changes nothing and reports already.
func (s *Store) ConfirmSubscription(ctx context.Context, f *mailing.SubscribeForm, name string, c *mailing.Consent) (cl *mailing.Client, already bool, err error) {
	c.OwnerID, c.FormKey = f.UserID, f.Key
	c.Email = strings.ToLower(strings.TrimSpace(c.Email))
	c.ConfirmedAt = s.now()
	err = s.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// The consent first: its unique link hash is what makes a second press a no-op,
		// even when two presses race.
		res, err := tx.NewInsert().Model(c).ExcludeColumn("id").On("CONFLICT (token_hash) DO NOTHING").Returning("").Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			already = true
			return nil
		}
		now := s.now()
		row := &mailing.Client{OwnerID: f.UserID, Email: c.Email, FullName: name, NameLC: strings.ToLower(name), CreatedAt: now, UpdatedAt: now}
		if _, err := tx.NewInsert().Model(row).ModelTableExpr("clients").ExcludeColumn("id").
			On("CONFLICT (owner_id, email) DO UPDATE").
			Set("full_name = CASE WHEN clients.full_name = '' THEN EXCLUDED.full_name ELSE clients.full_name END").
			Set("name_lc = CASE WHEN clients.full_name = '' THEN EXCLUDED.name_lc ELSE clients.name_lc END").
			Set("updated_at = EXCLUDED.updated_at").
			Returning("").Exec(ctx); err != nil {
			return err
		}
		if err := tx.NewSelect().TableExpr("clients").Column("id").
			Where("owner_id = ? AND email = ?", f.UserID, c.Email).Scan(ctx, &c.ClientID); err != nil {
			return err
		}
		if _, err := tx.NewDelete().TableExpr("suppressions").
			Where("owner_id = ? AND email = ? AND reason = ?", f.UserID, c.Email, mailing.SuppressUnsubscribed).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewUpdate().TableExpr("clients").Set("unsubscribed_at = NULL").
			Where("id = ? AND unsubscribed_at IS NOT NULL", c.ClientID).
			Where("NOT EXISTS (SELECT 1 FROM suppressions WHERE owner_id = ? AND email = ? AND reason = ?)",
				f.UserID, c.Email, mailing.SuppressComplaint).
			Exec(ctx); err != nil {
			return err
		}
		if f.Tag != "" {
			ids, err := s.ensureTags(ctx, tx, f.UserID, []string{f.Tag})
			if err != nil {
				return err
			}
			row := clientTagRow{ClientID: c.ClientID, TagID: ids[strings.ToLower(f.Tag)]}
			if _, err := tx.NewInsert().Model(&row).On("CONFLICT DO NOTHING").Exec(ctx); err != nil {
				return err
			}
		}
		_, err = tx.NewUpdate().TableExpr("consents").Set("client_id = ?", c.ClientID).Where("token_hash = ?", c.TokenHash).Exec(ctx)
		return err
	})
	if err != nil || already {
		return nil, already, err
	}
	cl, err = s.ClientByID(ctx, mailing.Scope{UserID: f.UserID}, c.ClientID)
	return cl, false, err
}
