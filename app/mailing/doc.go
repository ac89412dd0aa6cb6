// Package mailing holds Mailer's domain: its types, the rules that govern them and the
// interfaces services implement. It imports neither the web framework nor the database
// layer, so the rules can be read (and tested) without either.
package mailing
