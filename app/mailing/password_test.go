package mailing_test

import (
	"strings"
	"testing"

	"mailer/app/mailing"
)

// Finding 7: weak and common passwords were accepted. Lengths stay 8–128 with no
// composition rules; the most common passwords (any case) and ones carrying the address's
// name are refused.
func TestValidatePasswordRefusesCommonPasswordsAndTheEmailsName(t *testing.T) {
	if n := mailing.CommonPasswords(); n < 10_000 {
		t.Fatalf("the embedded list has %d passwords, want at least 10,000", n)
	}
	for _, c := range []struct{ password, email, want string }{
		{"12345678", "", "validation.password_common"},
		{"password123", "", "validation.password_common"},
		{"Password123", "ann@example.com", "validation.password_common"},
		{"QWERTYUIOP", "", "validation.password_common"},
		{"ann.smith-1984!", "ann.smith@example.com", "validation.password_email"},
		{"myANN.SMITHpass", "Ann.Smith@example.com", "validation.password_email"},
		{"short", "", "validation.password_short"},
		{strings.Repeat("x", 129), "", "validation.password_long"},
		{"correct horse battery staple", "ann@example.com", ""},
		{"ab-cd-ef-gh-ij", "ab@example.com", ""}, // a two-letter name is too short to refuse on
		{"вполне надёжный пароль", "", ""},
	} {
		if got := mailing.ValidatePassword(c.password, c.email); got != c.want {
			t.Errorf("ValidatePassword(%q, %q) = %q, want %q", c.password, c.email, got, c.want)
		}
	}
}
