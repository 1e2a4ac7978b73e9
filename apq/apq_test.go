package apq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/publishgate/publishgate/apq"
	"github.com/publishgate/publishgate/auth"
	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/graph"
	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/testkit"
)

const doc = `{ environments { name } }`

// replica serves the real schema (environments only need the catalog) with
// the persisted query extension ext, as one gateway replica would.
func replica(t *testing.T, ext apq.Extension) string {
	t.Helper()
	cat, err := catalog.New([]catalog.Environment{{Name: "dev", Host: "https://bots.kore.ai"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{Catalog: cat}}))
	srv.AddTransport(transport.POST{})
	srv.AddTransport(transport.GET{})
	srv.Use(ext)
	srv.SetErrorPresenter(graph.ErrorPresenter(nil))
	ts := httptest.NewServer(auth.Middleware(nil, nil, srv))
	t.Cleanup(ts.Close)
	return ts.URL
}

type answer struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (a answer) answered() bool {
	return len(a.Errors) == 0 && string(a.Data) == `{"environments":[{"name":"dev"}]}`
}

// post sends query (may be empty) with the APQ extension for hash (none if
// empty).
func post(t *testing.T, url, query, hash string) answer {
	t.Helper()
	body := map[string]any{}
	if query != "" {
		body["query"] = query
	}
	if hash != "" {
		body["extensions"] = map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
	}
	raw, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var a answer
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("HTTP %d: %s", resp.StatusCode, out)
	}
	return a
}

func (a answer) code() string {
	if len(a.Errors) == 0 {
		return ""
	}
	c, _ := a.Errors[0].Extensions["code"].(string)
	return c
}

func TestAPQRoundTripThroughRedisAcrossReplicas(t *testing.T) {
	r := testkit.MustRedis(t)
	rdb := r.Client(t)
	one := replica(t, apq.Extension{Store: apq.NewStore(rdb, 24*time.Hour, nil)})
	two := replica(t, apq.Extension{Store: apq.NewStore(rdb, 24*time.Hour, nil)})
	hash := apq.Hash(doc)

	if a := post(t, one, "", hash); a.code() != "BAD_USER_INPUT" || a.Errors[0].Message != apq.NotFoundMessage {
		t.Fatalf("unknown hash: %+v, want %s", a.Errors, apq.NotFoundMessage)
	}
	if a := post(t, one, doc, hash); !a.answered() {
		t.Fatalf("register: %s %+v", a.Data, a.Errors)
	}
	if a := post(t, one, "", hash); !a.answered() {
		t.Fatalf("hit on the registering replica: %s %+v", a.Data, a.Errors)
	}
	if a := post(t, two, "", hash); !a.answered() {
		t.Fatalf("hit on another replica (through Redis): %s %+v", a.Data, a.Errors)
	}
	ttl, err := rdb.TTL(context.Background(), keyspace.APQ(hash)).Result()
	if err != nil || ttl <= 23*time.Hour || ttl > 24*time.Hour {
		t.Errorf("key %s TTL = %v, %v; want about 24h", keyspace.APQ(hash), ttl, err)
	}
	if a := post(t, one, `{ environments { host } }`, hash); a.code() != "BAD_USER_INPUT" {
		t.Errorf("a document under another's hash: %+v", a.Errors)
	}

	t.Run("a document stored under the wrong hash in Redis is never run", func(t *testing.T) {
		forged := apq.Hash("{ __typename }")
		if err := rdb.Set(context.Background(), keyspace.APQ(forged), doc, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		three := replica(t, apq.Extension{Store: apq.NewStore(rdb, time.Hour, nil)})
		if a := post(t, three, "", forged); a.code() != "BAD_USER_INPUT" {
			t.Errorf("ran a forged entry: %s %+v", a.Data, a.Errors)
		}
	})

	t.Run("Redis down: an unknown hash is a miss and registration still runs", func(t *testing.T) {
		r.Stop()
		four := replica(t, apq.Extension{Store: apq.NewStore(rdb, time.Hour, nil)})
		if a := post(t, four, "", hash); a.Errors[0].Message != apq.NotFoundMessage {
			t.Errorf("lookup with Redis down: %+v", a.Errors)
		}
		if a := post(t, four, doc, hash); !a.answered() {
			t.Errorf("registration with Redis down: %s %+v", a.Data, a.Errors)
		}
		if a := post(t, four, "", hash); !a.answered() {
			t.Errorf("in-process hit with Redis down: %+v", a.Errors)
		}
	})
}

func TestPersistedOnlyModeRunsOnlyListedDocuments(t *testing.T) {
	listed := map[string]string{apq.Hash(doc): doc}
	path := filepath.Join(t.TempDir(), "ops.json")
	raw, _ := json.Marshal(listed)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	allowed, err := apq.LoadAllowed(path)
	if err != nil {
		t.Fatal(err)
	}
	url := replica(t, apq.Extension{Allowed: allowed})
	other := `{ environments { host } }`
	cases := []struct {
		name, query, hash string
		wantRun           bool
		wantMessage       string
	}{
		{name: "listed hash runs", hash: apq.Hash(doc), wantRun: true},
		{name: "listed document sent as text runs", query: doc, wantRun: true},
		{name: "ad-hoc query is refused", query: other, wantMessage: "persisted queries only"},
		{name: "APQ registration of an ad-hoc query is refused", query: other, hash: apq.Hash(other), wantMessage: "persisted queries only"},
		{name: "unknown hash is refused", hash: apq.Hash(other), wantMessage: "persisted queries only"},
		{name: "listed hash with another document is refused", query: other, hash: apq.Hash(doc), wantMessage: "provided persisted query hash does not match the query"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, url, tc.query, tc.hash)
			if tc.wantRun {
				if !a.answered() {
					t.Errorf("%s %+v", a.Data, a.Errors)
				}
				return
			}
			if a.code() != "BAD_USER_INPUT" || a.Errors[0].Message != tc.wantMessage {
				t.Errorf("errors %+v, want BAD_USER_INPUT %q", a.Errors, tc.wantMessage)
			}
		})
	}
}

func TestLoadAllowedRefusesAMismatchedList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ops.json")
	raw, _ := json.Marshal(map[string]string{apq.Hash(doc): "{ environments { host } }"})
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := apq.LoadAllowed(path); err == nil {
		t.Error("a list whose document does not hash to its key was accepted")
	}
}
