package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// mustStillServe asserts that the gateway answers an ordinary query.
func mustStillServe(t *testing.T, baseURL string) {
	t.Helper()
	res := testkit.Query(t, baseURL, `{ environments { name } }`, nil)
	if res.Status != 200 || len(res.Errors) != 0 {
		t.Fatalf("the gateway stopped serving: HTTP %d %+v", res.Status, res.Errors)
	}
}

func TestHostileBotIDsNeverReachUpstream(t *testing.T) {
	acct := testkit.Account("prod", 1)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{})
	good := acct.Bots[0].ID
	hostile := []struct{ name, id string }{
		{"dot-dot path", "../../bots"},
		{"traversal after a prefix", "st-x/../../admin"},
		{"percent-encoded traversal", "%2e%2e%2f"},
		{"encoded traversal after a valid ID", good + "%2f..%2f..%2fadmin"},
		{"10 kB string", "st-" + strings.Repeat("a", 10_000)},
		{"CRLF header injection", good + "\r\nX-Injected: 1"},
		{"unicode hyphen lookalike", strings.Replace(good, "-", "\u2010", 1)},
		{"cyrillic s lookalike", "\u0455" + good[1:]},
		{"fullwidth digit lookalike", good[:len(good)-1] + "\uff11"},
		{"valid ID with a query string", good + "?x=1"},
		{"absolute URL", "https://evil.example/" + good},
		{"NUL byte", good + "\x00"},
	}
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			sim.Simulator.Reset()
			for _, q := range []struct {
				query, path string
				vars        map[string]any
			}{
				{`query($b: ID!) { publishStatus(environment: "prod", botId: $b) { status } }`, "publishStatus", map[string]any{"b": h.id}},
				{botsQuery, "bots.0", map[string]any{"refs": refs("prod", h.id)}},
			} {
				res := testkit.Query(t, gw.URL, q.query, q.vars)
				if len(res.Errors) != 1 || res.Errors[0].Code() != "BAD_USER_INPUT" || res.Errors[0].PathString() != q.path {
					t.Errorf("%s: errors %+v, want BAD_USER_INPUT at %s", q.path, res.Errors, q.path)
				}
			}
			if n := sim.Simulator.Stats().Total; n != 0 {
				t.Errorf("%d upstream requests", n)
			}
		})
	}
}

func TestQueryBombsAreRefusedBeforeAnyResolverRuns(t *testing.T) {
	acct := testkit.Account("prod", 3)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	cfg := testkit.Config(t, sim.URL, acct)
	gw := testkit.MustGateway(t, cfg, gateway.Options{})

	deep := "name"
	for range 7 {
		deep = "bots { environment { " + deep + " } }"
	}
	var aliases, roots strings.Builder
	for i := range cfg.Limits.MaxAliases + 1 {
		fmt.Fprintf(&aliases, "a%d: name ", i)
	}
	for i := range cfg.Limits.MaxRootFields + 1 {
		fmt.Fprintf(&roots, "e%d: environment(name: \"prod\") { bots { publishStatus { status } } } ", i)
	}
	manyRefs := make([]map[string]string, cfg.Limits.MaxBotsPerRequest)
	for i := range manyRefs {
		manyRefs[i] = map[string]string{"environment": "prod", "botId": acct.Bots[i%3].ID}
	}
	tokens := "{ environments { " + strings.Repeat("name ", cfg.Limits.MaxTokens) + "} }"
	var fanout strings.Builder // 2^30 fields in a few hundred bytes
	fanout.WriteString("{ ...f0 }\n")
	for i := range 30 {
		fmt.Fprintf(&fanout, "fragment f%d on Query { ...f%d ...f%d }\n", i, i+1, i+1)
	}
	fanout.WriteString("fragment f30 on Query { environments { name } }\n")

	cases := []struct {
		name       string
		query      string
		vars       map[string]any
		wantCode   string
		wantStatus int
	}{
		{name: "depth bomb", query: "{ environments { " + deep + " } }", wantCode: "QUERY_TOO_COMPLEX"},
		{name: "depth bomb through fragments", query: "{ environments { ...a } } fragment a on Environment { bots { environment { bots { environment { bots { environment { bots { environment { bots { environment { bots { environment { name } } } } } } } } } } } } }", wantCode: "QUERY_TOO_COMPLEX"},
		{name: "alias bomb", query: "{ environments { " + aliases.String() + "} }", wantCode: "QUERY_TOO_COMPLEX"},
		{name: "root field bomb", query: "{ " + roots.String() + "}", wantCode: "QUERY_TOO_COMPLEX"},
		{name: "complexity bomb: a list multiplies what it selects", query: `query($refs: [BotRef!]!) { bots(refs: $refs) { publishStatus(refresh: true) { statusSummary { name status modules } } } }`, vars: map[string]any{"refs": manyRefs}, wantCode: "QUERY_TOO_COMPLEX"},
		{name: "fragment fan-out bomb", query: fanout.String(), wantCode: "QUERY_TOO_COMPLEX"},
		{name: "token bomb", query: tokens, wantCode: "BAD_USER_INPUT"},
		{name: "too many bots", query: botsQuery, vars: map[string]any{"refs": append(manyRefs, manyRefs[0])}, wantCode: "BAD_USER_INPUT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim.Simulator.Reset()
			res := testkit.Query(t, gw.URL, tc.query, tc.vars)
			if len(res.Errors) == 0 || res.Errors[0].Code() != tc.wantCode {
				t.Fatalf("HTTP %d, errors %+v, want %s", res.Status, res.Errors, tc.wantCode)
			}
			if string(res.Data) != "null" && len(res.Data) != 0 && tc.name != "too many bots" {
				t.Errorf("data = %s, want none", res.Data)
			}
			if n := sim.Simulator.Stats().Total; n != 0 {
				t.Errorf("%d upstream requests: a resolver ran", n)
			}
			mustStillServe(t, gw.URL)
		})
	}

	t.Run("an ordinary dashboard query is within every limit", func(t *testing.T) {
		res := testkit.Query(t, gw.URL, gateway.DefaultQuery, nil)
		if len(res.Errors) != 0 {
			t.Fatalf("errors: %+v", res.Errors)
		}
	})
}

func TestRequestsRefusedBeforeGraphQL(t *testing.T) {
	acct := testkit.Account("prod", 1)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	cfg := testkit.Config(t, sim.URL, acct)
	cfg.CORS.AllowedOrigins = []string{"https://dash.example.com"}
	gw := testkit.MustGateway(t, cfg, gateway.Options{})
	q := `{"query":"{ environments { name } }"}`
	batch := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat(q+",", n), ",") + "]" }
	get := gw.URL + "/graphql?query=" + url.QueryEscape(`{ environments { name } }`)

	cases := []struct {
		name       string
		method     string
		url        string
		body       string
		headers    map[string]string
		wantStatus int
		wantCode   string // "" = answered
		wantACAO   string
	}{
		{name: "oversize body", method: "POST", url: gw.URL + "/graphql", body: `{"query":"{ environments { name } }","variables":{"x":"` + strings.Repeat("x", int(cfg.Limits.MaxBodyBytes)) + `"}}`,
			headers: map[string]string{"Content-Type": "application/json"}, wantStatus: 413, wantCode: "BAD_USER_INPUT"},
		{name: "batch within maxBatch is refused: batches are not supported", method: "POST", url: gw.URL + "/graphql", body: batch(2),
			headers: map[string]string{"Content-Type": "application/json"}, wantStatus: 400, wantCode: "BAD_USER_INPUT"},
		{name: "batch beyond maxBatch", method: "POST", url: gw.URL + "/graphql", body: batch(cfg.Limits.MaxBatch + 1),
			headers: map[string]string{"Content-Type": "application/json"}, wantStatus: 400, wantCode: "BAD_USER_INPUT"},
		{name: "form-encoded POST (CSRF)", method: "POST", url: gw.URL + "/graphql", body: "query=" + url.QueryEscape("{ environments { name } }"),
			headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, wantStatus: 415, wantCode: "BAD_USER_INPUT"},
		{name: "text/plain POST (CSRF)", method: "POST", url: gw.URL + "/graphql", body: q,
			headers: map[string]string{"Content-Type": "text/plain"}, wantStatus: 415, wantCode: "BAD_USER_INPUT"},
		{name: "simple GET without a preflight header (CSRF)", method: "GET", url: get, wantStatus: 400, wantCode: "BAD_USER_INPUT"},
		{name: "GET with X-Requested-With answers", method: "GET", url: get, headers: map[string]string{"X-Requested-With": "fetch"}, wantStatus: 200},
		{name: "GET with Apollo-Require-Preflight answers", method: "GET", url: get, headers: map[string]string{"Apollo-Require-Preflight": "true"}, wantStatus: 200},
		{name: "GET never runs a mutation", method: "GET", url: gw.URL + "/graphql?query=" + url.QueryEscape(`mutation { publishBot(environment: "prod", botId: "`+acct.Bots[0].ID+`", versionComment: "csrf") { id } }`),
			headers: map[string]string{"X-Requested-With": "fetch"}, wantStatus: http.StatusNotAcceptable, wantCode: "*"},
		{name: "preflight from an allowed origin", method: "OPTIONS", url: gw.URL + "/graphql",
			headers:    map[string]string{"Origin": "https://dash.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"},
			wantStatus: 204, wantACAO: "https://dash.example.com"},
		{name: "preflight from another origin", method: "OPTIONS", url: gw.URL + "/graphql",
			headers: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, wantStatus: 403, wantCode: "FORBIDDEN"},
		{name: "POST from an allowed origin is marked readable", method: "POST", url: gw.URL + "/graphql", body: q,
			headers: map[string]string{"Content-Type": "application/json", "Origin": "https://dash.example.com"}, wantStatus: 200, wantACAO: "https://dash.example.com"},
		{name: "POST from another origin is not marked readable", method: "POST", url: gw.URL + "/graphql", body: q,
			headers: map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}, wantStatus: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim.Simulator.Reset()
			res := send(t, tc.method, tc.url, bytes.NewBufferString(tc.body), tc.headers)
			if tc.wantStatus > 0 && res.status != tc.wantStatus {
				t.Fatalf("HTTP %d, want %d: %+v", res.status, tc.wantStatus, res.resp.Errors)
			}
			switch tc.wantCode {
			case "":
				if len(res.resp.Errors) != 0 {
					t.Errorf("errors: %+v", res.resp.Errors)
				}
			case "*":
				if len(res.resp.Errors) == 0 || res.status == 200 && !bytes.Equal(res.resp.Data, []byte("null")) && len(res.resp.Data) != 0 {
					t.Errorf("HTTP %d, data %s, errors %+v: want a refusal", res.status, res.resp.Data, res.resp.Errors)
				}
			default:
				if res.code() != tc.wantCode {
					t.Errorf("errors %+v, want %s", res.resp.Errors, tc.wantCode)
				}
			}
			if got := res.header.Get("Access-Control-Allow-Origin"); got != tc.wantACAO {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tc.wantACAO)
			}
			if st := sim.Simulator.Stats(); tc.wantStatus != 200 && (st.Total != 0 || len(st.Publishes) != 0) {
				t.Errorf("a refused request reached upstream: %+v", st)
			}
		})
	}
	mustStillServe(t, gw.URL)
}

func TestIntrospectionAndPlaygroundFollowConfiguration(t *testing.T) {
	acct := testkit.Account("prod", 1)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("on=%v", on), func(t *testing.T) {
			cfg := testkit.Config(t, sim.URL, acct)
			cfg.Security.Introspection, cfg.Security.Playground = on, on
			gw := testkit.MustGateway(t, cfg, gateway.Options{})
			res := testkit.Query(t, gw.URL, `{ __schema { queryType { name } } }`, nil)
			if answered := len(res.Errors) == 0; answered != on {
				t.Errorf("introspection answered = %v, want %v (%+v)", answered, on, res.Errors)
			}
			resp, err := http.Get(gw.URL + "/playground")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if served := resp.StatusCode == 200; served != on {
				t.Errorf("playground HTTP %d, want served = %v", resp.StatusCode, on)
			}
		})
	}
}

func TestRefusalsAreJSON(t *testing.T) {
	// Every refusal above is a GraphQL-shaped JSON body; make sure one of
	// each HTTP status decodes as such even for clients that check strictly.
	acct := testkit.Account("prod", 1)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{})
	resp, err := http.Post(gw.URL+"/graphql", "text/plain", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Errors) != 1 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("HTTP %d %q: %+v, %v", resp.StatusCode, resp.Header.Get("Content-Type"), body, err)
	}
}
