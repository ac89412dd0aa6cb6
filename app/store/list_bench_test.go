package store_test

import (
	"context"
	"fmt"
	"testing"

	"mailer/app/mailing"
	"mailer/app/testutil"
)

// BenchmarkListClients measures one page of the clients list, the query every list page
// runs (go test -bench ListClients ./app/store; `go run ./app/cmd/bench web` measures
// whole pages).
func BenchmarkListClients(b *testing.B) {
	st := testutil.DB(b, testutil.NewClock())
	ctx := context.Background()
	u := &mailing.User{Email: "bench@example.com"}
	if err := st.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	clients := make([]mailing.Client, 5000)
	for i := range clients {
		clients[i] = mailing.Client{Email: fmt.Sprintf("client%05d@example.com", i), FullName: fmt.Sprintf("Client %05d", i)}
		clients[i].Validate()
	}
	if _, _, err := st.UpsertClients(ctx, u.ID, clients); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    mailing.ListParams
	}{
		{"first", mailing.ListParams{Limit: 25}},
		{"created", mailing.ListParams{Limit: 25, Sort: "created"}},
		{"search", mailing.ListParams{Limit: 25, Q: "client01"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, err := st.ListClients(ctx, mailing.Scope{UserID: u.ID}, tc.p)
				if err != nil || len(page.Items) != 25 {
					b.Fatalf("%d items, %v", len(page.Items), err)
				}
			}
		})
	}
}
