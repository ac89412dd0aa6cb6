package mailing

import (
	"strings"
	"testing"
	"time"
)

func TestSubscribeTokenRoundTripAndTampering(t *testing.T) {
	secret := []byte("a secret of the right kind of length")
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	r := SubscribeRequest{Key: "k1", Email: "ann@example.com", Name: "Ann | Example.", Unix: at.Unix()}
	tok := SubscribeToken(secret, r)
	got, hash, ok := ParseSubscribeToken(secret, tok)
	if !ok || got != r || hash == "" || !got.At().Equal(at) {
		t.Fatalf("round trip: %+v %q %v", got, hash, ok)
	}
	if _, hash2, _ := ParseSubscribeToken(secret, SubscribeToken(secret, r)); hash2 != hash {
		t.Fatal("one request, two hashes")
	}
	other := r
	other.Email = "bob@example.com"
	enc, mac, _ := strings.Cut(tok, ".")
	otherEnc, _, _ := strings.Cut(SubscribeToken(secret, other), ".")
	for name, bad := range map[string]string{
		"another secret":       SubscribeToken([]byte("another secret entirely, same size"), r),
		"payload swapped":      otherEnc + "." + mac,
		"mac cut short":        enc + "." + mac[:len(mac)-1],
		"no mac":               enc,
		"not base64":           "!!." + mac,
		"empty":                "",
		"padding on the value": enc + "==." + mac,
	} {
		if _, _, ok := ParseSubscribeToken(secret, bad); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if r.Expired(at.Add(SubscribeTTL-time.Second)) || !r.Expired(at.Add(SubscribeTTL)) {
		t.Error("a link must work for 48 hours and no longer")
	}
}

func TestValidateSubscribeTag(t *testing.T) {
	for in, want := range map[string][2]string{
		"":                               {"", ""},
		"  News  letter":                 {"News letter", ""},
		"a,b":                            {"a,b", "subscribe.one_tag"},
		strings.Repeat("x", MaxTagLen+1): {strings.Repeat("x", MaxTagLen+1), "validation.tag_too_long"},
	} {
		tag, problem := ValidateSubscribeTag(in)
		if tag != want[0] || problem != want[1] {
			t.Errorf("ValidateSubscribeTag(%q) = %q, %q; want %q, %q", in, tag, problem, want[0], want[1])
		}
	}
}
