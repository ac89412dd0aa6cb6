// Package snstest stands in for Amazon SNS in tests: it signs messages as SNS does with a
// key of its own, serves the signing certificate over HTTPS under a certificate for
// sns.us-east-1.amazonaws.com issued by a test CA, and answers subscription confirmations.
// Its Client trusts only that CA and dials the local server whatever host a URL names, so
// the verifier's pinning of certificate URLs to SNS hosts is exercised unchanged.
package snstest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Host is the SNS host the fake serves as.
const Host = "sns.us-east-1.amazonaws.com"

// CertPath is where the signing certificate is served.
const CertPath = "/SimpleNotificationService-0123456789abcdef.pem"

// SNS is a fake SNS endpoint with its own signing key.
type SNS struct {
	Server *httptest.Server
	// Client trusts the test CA only, and reaches the fake for any host.
	Client *http.Client
	key    *rsa.PrivateKey

	mu        sync.Mutex
	confirmed []string
	certGets  int
}

// Start starts the fake; it stops at cleanup.
func Start(t testing.TB) *SNS {
	t.Helper()
	caKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	srvTpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: Host},
		DNSNames: []string{Host, "sns.eu-west-1.amazonaws.com", "sns.example.com"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	// The signing certificate: its key signs messages (as AWS's does), served as PEM.
	f := &SNS{}
	f.key, _ = rsa.GenerateKey(rand.Reader, 2048)
	sigTpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	sigDER, err := x509.CreateCertificate(rand.Reader, sigTpl, ca, &f.key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	sigPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sigDER})
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case r.URL.Path == CertPath:
			f.certGets++
			w.Write(sigPEM)
		case r.URL.Query().Get("Action") == "ConfirmSubscription":
			f.confirmed = append(f.confirmed, r.URL.Query().Get("Token"))
			w.Write([]byte("<ConfirmSubscriptionResponse/>"))
		default:
			http.NotFound(w, r)
		}
	}))
	f.Server.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}}
	f.Server.StartTLS()
	t.Cleanup(f.Server.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	addr := f.Server.Listener.Addr().String()
	f.Client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	return f
}

// Confirmed returns the tokens of the subscriptions confirmed so far.
func (f *SNS) Confirmed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.confirmed...)
}

// CertGets counts fetches of the signing certificate.
func (f *SNS) CertGets() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.certGets
}

// Message is an SNS message as posted to an HTTP endpoint.
type Message struct {
	Type             string
	MessageId        string
	Token            string `json:",omitempty"`
	TopicArn         string
	Subject          string `json:",omitempty"`
	Message          string
	SubscribeURL     string `json:",omitempty"`
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
	UnsubscribeURL   string `json:",omitempty"`
}

// Notification builds a signed Notification carrying msg, published at ts.
func (f *SNS) Notification(topic, id, msg string, ts time.Time) Message {
	m := Message{Type: "Notification", MessageId: id, TopicArn: topic, Message: msg,
		Timestamp: ts.UTC().Format("2006-01-02T15:04:05.000Z"), SignatureVersion: "1",
		SigningCertURL: "https://" + Host + CertPath,
		UnsubscribeURL: "https://" + Host + "/?Action=Unsubscribe&SubscriptionArn=" + topic + ":sub"}
	f.Sign(&m)
	return m
}

// Confirmation builds a signed SubscriptionConfirmation.
func (f *SNS) Confirmation(topic, id, token string, ts time.Time) Message {
	m := Message{Type: "SubscriptionConfirmation", MessageId: id, Token: token, TopicArn: topic,
		Message:      "You have chosen to subscribe to the topic " + topic + ".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		SubscribeURL: "https://" + Host + "/?Action=ConfirmSubscription&TopicArn=" + topic + "&Token=" + token,
		Timestamp:    ts.UTC().Format("2006-01-02T15:04:05.000Z"), SignatureVersion: "1",
		SigningCertURL: "https://" + Host + CertPath}
	f.Sign(&m)
	return m
}

// Sign (re)signs m as SNS does, with SignatureVersion 1 (SHA1) or 2 (SHA256).
func (f *SNS) Sign(m *Message) {
	var fields []string
	if m.Type == "Notification" {
		fields = []string{"Message", m.Message, "MessageId", m.MessageId}
		if m.Subject != "" {
			fields = append(fields, "Subject", m.Subject)
		}
		fields = append(fields, "Timestamp", m.Timestamp, "TopicArn", m.TopicArn, "Type", m.Type)
	} else {
		fields = []string{"Message", m.Message, "MessageId", m.MessageId, "SubscribeURL", m.SubscribeURL,
			"Timestamp", m.Timestamp, "Token", m.Token, "TopicArn", m.TopicArn, "Type", m.Type}
	}
	signed := []byte(strings.Join(fields, "\n") + "\n")
	var sig []byte
	if m.SignatureVersion == "2" {
		sum := sha256.Sum256(signed)
		sig, _ = rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, sum[:])
	} else {
		sum := sha1.Sum(signed)
		sig, _ = rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA1, sum[:])
	}
	m.Signature = base64.StdEncoding.EncodeToString(sig)
}

// JSON is m as the request body.
func (m Message) JSON() []byte {
	b, _ := json.Marshal(m)
	return b
}
