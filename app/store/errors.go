package store

import (
	"database/sql"
	"errors"
	"strings"

	"mailer/app/mailing"
)

// notFound turns sql.ErrNoRows into the domain's not-found error.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return mailing.Errorf(mailing.ENOTFOUND, "%s not found", what)
	}
	return err
}

// isUniqueViolation reports a unique-constraint error on either dialect.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE=23505") ||
		strings.Contains(msg, "duplicate key value")
}

// affected turns an update or delete that touched no row into the domain's not-found error.
func affected(res interface{ RowsAffected() (int64, error) }, err error, what string) error {
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return mailing.Errorf(mailing.ENOTFOUND, "%s not found", what)
	}
	return nil
}
