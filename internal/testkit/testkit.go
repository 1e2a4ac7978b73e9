// Package testkit holds the helpers tests share: a Kore.ai simulator on a
// real port, a gateway in front of it, GraphQL calls over real HTTP, and a
// private redis-server. Every helper registers its own cleanup.
package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// BotID returns a deterministic, valid bot ID for name.
func BotID(name string) string {
	return "st-" + uuid.NewSHA1(uuid.NameSpaceURL, []byte("publishgate-test:"+name)).String()
}

// Account returns a simulator account named name with n successful bots
// whose IDs are BotID(name + "-" + i).
func Account(name string, n int) simulator.Account {
	a := simulator.Account{Name: name, ClientID: "cs-" + name, ClientSecret: "secret-" + name + "-0123456789abcdef0123456789"}
	for i := range n {
		a.Bots = append(a.Bots, simulator.Bot{ID: BotID(fmt.Sprintf("%s-%d", name, i)), Name: fmt.Sprintf("%s bot %d", name, i), State: simulator.StateSuccessful})
	}
	return a
}

// MustSimulator serves a simulator on a free loopback port until the test ends.
func MustSimulator(tb testing.TB, opts ...simulator.Option) *simulator.Server {
	tb.Helper()
	srv, err := simulator.Listen("127.0.0.1:0", simulator.New(opts...))
	if err != nil {
		tb.Fatalf("start simulator: %v", err)
	}
	tb.Cleanup(func() { _ = srv.Close() })
	return srv
}

// Config returns a valid gateway configuration with one environment per
// account, all at the simulator's URL.
func Config(tb testing.TB, simURL string, accounts ...simulator.Account) *config.Config {
	tb.Helper()
	cfg := config.Default()
	cfg.Upstream.Retries = 0
	for _, a := range accounts {
		env := config.DefaultEnvironment()
		env.Name, env.Host, env.ClientID, env.ClientSecret = a.Name, simURL, a.ClientID, config.Secret(a.ClientSecret)
		for _, b := range a.Bots {
			env.Bots = append(env.Bots, config.Bot{ID: b.ID, Name: b.Name})
		}
		cfg.Environments = append(cfg.Environments, env)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatalf("test configuration: %v", err)
	}
	return cfg
}

// Gateway is a gateway served over real HTTP for a test.
type Gateway struct {
	*gateway.Gateway
	URL string
}

// MustGateway builds a gateway from cfg and serves it until the test ends.
func MustGateway(tb testing.TB, cfg *config.Config, opts gateway.Options) *Gateway {
	tb.Helper()
	gw, err := gateway.New(context.Background(), cfg, opts)
	if err != nil {
		tb.Fatalf("start gateway: %v", err)
	}
	srv := httptest.NewServer(gw.Handler())
	tb.Cleanup(func() {
		srv.Close()
		_ = gw.Close()
	})
	return &Gateway{Gateway: gw, URL: srv.URL}
}

// Response is a GraphQL response.
type Response struct {
	Data       json.RawMessage `json:"data"`
	Errors     []Error         `json:"errors"`
	Extensions map[string]any  `json:"extensions"`
	// Status is the HTTP status.
	Status int `json:"-"`
}

// Error is a GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is extensions.code.
func (e Error) Code() string { s, _ := e.Extensions["code"].(string); return s }

// PathString renders the path as "a.0.b".
func (e Error) PathString() string {
	var b bytes.Buffer
	for i, p := range e.Path {
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprint(&b, p)
	}
	return b.String()
}

// Query posts a GraphQL query to baseURL/graphql and decodes the answer.
func Query(tb testing.TB, baseURL, query string, vars map[string]any) Response {
	tb.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("POST /graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r Response
	if err := json.Unmarshal(raw, &r); err != nil {
		tb.Fatalf("decode response (HTTP %d): %v\n%s", resp.StatusCode, err, raw)
	}
	r.Status = resp.StatusCode
	return r
}

// Decode unmarshals r.Data into v.
func (r Response) Decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		tb.Fatalf("decode data: %v\n%s", err, r.Data)
	}
}

// Eventually polls cond until it holds or timeout passes, for effects that
// land asynchronously in another process or goroutine (a server recording a
// request its client abandoned). It is not a way to wait for work the test
// itself started: wait for that directly.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
