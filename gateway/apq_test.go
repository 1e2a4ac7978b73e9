package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/publishgate/publishgate/apq"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

func apqBody(query, hash string) *bytes.Reader {
	body := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
	if query != "" {
		body["query"] = query
	}
	raw, _ := json.Marshal(body)
	return bytes.NewReader(raw)
}

func TestPersistedQueriesThroughTheGateway(t *testing.T) {
	acct := testkit.Account("dev", 2)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	const doc = `{ environments { name bots { id } } }`
	hash := apq.Hash(doc)
	jsonHeader := map[string]string{"Content-Type": "application/json"}

	t.Run("APQ in process: miss, register, hit", func(t *testing.T) {
		gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{})
		steps := []struct {
			name, query string
			wantErr     string
		}{
			{name: "unknown hash", wantErr: apq.NotFoundMessage},
			{name: "register", query: doc},
			{name: "hit", query: ""},
		}
		for _, s := range steps {
			res := send(t, "POST", gw.URL+"/graphql", apqBody(s.query, hash), jsonHeader)
			switch {
			case s.wantErr != "" && (len(res.resp.Errors) != 1 || res.resp.Errors[0].Message != s.wantErr || res.code() != "BAD_USER_INPUT"):
				t.Errorf("%s: %+v, want %s", s.name, res.resp.Errors, s.wantErr)
			case s.wantErr == "" && (len(res.resp.Errors) != 0 || !bytes.Contains(res.resp.Data, []byte(acct.Bots[1].ID))):
				t.Errorf("%s: %s %+v", s.name, res.resp.Data, res.resp.Errors)
			}
		}
	})

	t.Run("APQ through Redis: registered on one replica, a hit on another", func(t *testing.T) {
		r := testkit.MustRedis(t)
		cfg := testkit.Config(t, sim.URL, acct)
		cfg.Redis.URL = r.URL // the gateway's own Redis client stores the documents
		one, two := testkit.MustGateway(t, cfg, gateway.Options{}), testkit.MustGateway(t, cfg, gateway.Options{})
		if res := send(t, "POST", two.URL+"/graphql", apqBody("", hash), jsonHeader); len(res.resp.Errors) != 1 || res.resp.Errors[0].Message != apq.NotFoundMessage {
			t.Fatalf("miss: %+v", res.resp.Errors)
		}
		if res := send(t, "POST", one.URL+"/graphql", apqBody(doc, hash), jsonHeader); len(res.resp.Errors) != 0 {
			t.Fatalf("register: %+v", res.resp.Errors)
		}
		if res := send(t, "POST", two.URL+"/graphql", apqBody("", hash), jsonHeader); len(res.resp.Errors) != 0 || !bytes.Contains(res.resp.Data, []byte(acct.Bots[1].ID)) {
			t.Fatalf("hit on the other replica: %s %+v", res.resp.Data, res.resp.Errors)
		}
		if n, err := r.Client(t).Exists(context.Background(), keyspace.APQ(hash)).Result(); err != nil || n != 1 {
			t.Errorf("Redis key %s: %d, %v", keyspace.APQ(hash), n, err)
		}
	})

	t.Run("persisted-only refuses an ad-hoc query", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ops.json")
		raw, _ := json.Marshal(map[string]string{hash: doc})
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := testkit.Config(t, sim.URL, acct)
		cfg.Security.PersistedQueriesOnly, cfg.Security.PersistedQueries = true, path
		gw := testkit.MustGateway(t, cfg, gateway.Options{})
		sim.Simulator.Reset()
		adhoc := testkit.Query(t, gw.URL, `{ environments { bots { publishStatus { status } } } }`, nil)
		if len(adhoc.Errors) != 1 || adhoc.Errors[0].Code() != "BAD_USER_INPUT" || adhoc.Errors[0].Message != "persisted queries only" {
			t.Errorf("ad-hoc query: %+v", adhoc.Errors)
		}
		if n := sim.Simulator.Stats().Total; n != 0 {
			t.Errorf("%d upstream requests for a refused query", n)
		}
		listed := send(t, "POST", gw.URL+"/graphql", apqBody("", hash), jsonHeader)
		if len(listed.resp.Errors) != 0 || !bytes.Contains(listed.resp.Data, []byte(acct.Bots[0].ID)) {
			t.Errorf("listed hash: %s %+v", listed.resp.Data, listed.resp.Errors)
		}
	})
}
