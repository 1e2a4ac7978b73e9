package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// botSecret is the client secret of the app linked to bot i only.
func botSecret(i int) string { return fmt.Sprintf("jwtapp-secret-%03d-do-not-leak", i) }

// listAccount is an account of n bots, each with an app of its own.
func listAccount(n int) simulator.Account {
	a := testkit.Account("list", n)
	for i := range a.Bots {
		a.Bots[i].AppSecret = botSecret(i)
	}
	return a
}

func TestListBotsPagesAndDropsSecrets(t *testing.T) {
	tests := []struct {
		name      string
		bots      int
		wantPages int
	}{
		{name: "empty account is one page", bots: 0, wantPages: 1},
		{name: "one short page", bots: 7, wantPages: 1},
		{name: "exactly one full page", bots: 50, wantPages: 1},
		{name: "three pages follow availableMore", bots: 120, wantPages: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := listAccount(tt.bots)
			srv := testkit.MustSimulator(t, simulator.WithAccounts(acct))
			c, err := upstream.New(srv.URL, upstream.Credentials{ClientID: acct.ClientID, ClientSecret: acct.ClientSecret})
			if err != nil {
				t.Fatal(err)
			}
			list, err := c.ListBots(context.Background())
			if err != nil {
				t.Fatalf("ListBots: %v", err)
			}
			if len(list.Bots) != tt.bots || list.Pages != tt.wantPages || list.Invalid != 0 {
				t.Fatalf("got %d bots in %d pages (%d invalid), want %d in %d", len(list.Bots), list.Pages, list.Invalid, tt.bots, tt.wantPages)
			}
			for i, b := range list.Bots {
				if b.ID != acct.Bots[i].ID || b.Name != acct.Bots[i].Name || b.Status != "published" {
					t.Fatalf("bot %d = %+v, want %s %q published", i, b, acct.Bots[i].ID, acct.Bots[i].Name)
				}
			}
			if got := srv.Simulator.Stats().ByPath["GET /api/public/bots"]; got != int64(tt.wantPages) {
				t.Fatalf("simulator saw %d list requests, want %d", got, tt.wantPages)
			}
			// Nothing decoded holds a secret: the type has no field for one,
			// and no value of the result contains one.
			dump := fmt.Sprintf("%#v", list)
			for i := range tt.bots {
				if strings.Contains(dump, botSecret(i)) {
					t.Fatalf("the result holds bot %d's app secret", i)
				}
			}
			if strings.Contains(dump, acct.ClientSecret) {
				t.Fatal("the result holds the account's app secret")
			}
			if _, ok := reflect.TypeFor[upstream.ListedBot]().FieldByNameFunc(func(n string) bool {
				return strings.Contains(strings.ToLower(n), "app") || strings.Contains(strings.ToLower(n), "secret")
			}); ok {
				t.Fatal("ListedBot has a field for apps or secrets")
			}
		})
	}
}

func TestListBotsFailures(t *testing.T) {
	acct := listAccount(120)
	errGate := errors.New("admin budget spent")
	tests := []struct {
		name      string
		scopes    []simulator.Scope
		fault     *simulator.Fault
		gate      func(calls int) error
		wantErr   error
		wantPages int64
	}{
		{name: "missing Role Management scope is unauthorized", scopes: []simulator.Scope{simulator.ScopePublishStatus}, wantErr: upstream.ErrUnauthorized, wantPages: 1},
		{name: "malformed page is a bad response", fault: &simulator.Fault{Malformed: true}, wantErr: upstream.ErrBadResponse, wantPages: 1},
		{name: "503 is unavailable after the retries", fault: &simulator.Fault{ErrorRate: 1, ErrorStatus: 503}, wantErr: upstream.ErrUnavailable, wantPages: 2},
		{name: "a refusing gate stops before the next page", gate: func(calls int) error {
			if calls > 2 {
				return errGate
			}
			return nil
		}, wantErr: errGate, wantPages: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := acct
			a.Scopes, a.Fault = tt.scopes, tt.fault
			srv := testkit.MustSimulator(t, simulator.WithAccounts(a))
			c, err := upstream.New(srv.URL, upstream.Credentials{ClientID: a.ClientID, ClientSecret: a.ClientSecret}, upstream.WithRetries(1, 1))
			if err != nil {
				t.Fatal(err)
			}
			var opts []upstream.ListOption
			if tt.gate != nil {
				calls := 0
				opts = append(opts, upstream.WithPageGate(func(context.Context) error { calls++; return tt.gate(calls) }))
			}
			list, err := c.ListBots(context.Background(), opts...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if len(list.Bots) != 0 {
				t.Fatalf("a failed listing returned %d bots", len(list.Bots))
			}
			for i := range a.Bots {
				if strings.Contains(err.Error(), botSecret(i)) || strings.Contains(err.Error(), a.ClientSecret) {
					t.Fatalf("error text holds a secret: %v", err)
				}
			}
			if got := srv.Simulator.Stats().ByPath["GET /api/public/bots"]; got != tt.wantPages {
				t.Fatalf("simulator saw %d list requests, want %d", got, tt.wantPages)
			}
		})
	}
}
