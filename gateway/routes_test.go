package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

func TestBrowserOpeningGraphQLGetsThePlayground(t *testing.T) {
	acct := testkit.Account("prod", 1)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	withPlayground := testkit.MustGateway(t, testkit.Config(t, sim.URL, acct), gateway.Options{})
	cfg := testkit.Config(t, sim.URL, acct)
	cfg.Security.Playground = false
	withoutPlayground := testkit.MustGateway(t, cfg, gateway.Options{})

	const csrf = "BAD_USER_INPUT: GET requests need an X-Requested-With"
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	query := "?query=" + url.QueryEscape(`{ environments { name } }`)
	persisted := "?extensions=" + url.QueryEscape(`{"persistedQuery":{"version":1,"sha256Hash":"0000000000000000000000000000000000000000000000000000000000000000"}}`)
	cases := []struct {
		name       string
		gw         *testkit.Gateway
		method     string
		path       string
		headers    map[string]string
		wantStatus int
		wantError  string // in the first error's "code: message"; "" = no error
	}{
		{name: "a browser's navigation is sent to the Playground", gw: withPlayground, method: "GET", path: "/graphql",
			headers: map[string]string{"Accept": browser}, wantStatus: http.StatusFound},
		{name: "Accept: text/html alone is sent to the Playground", gw: withPlayground, method: "GET", path: "/graphql",
			headers: map[string]string{"Accept": "text/html"}, wantStatus: http.StatusFound},
		{name: "without the Playground, the CSRF refusal as before", gw: withoutPlayground, method: "GET", path: "/graphql",
			headers: map[string]string{"Accept": browser}, wantStatus: http.StatusBadRequest, wantError: csrf},
		{name: "text/html with q=0 keeps the CSRF refusal", gw: withPlayground, method: "GET", path: "/graphql",
			headers: map[string]string{"Accept": "text/html;q=0, application/json"}, wantStatus: http.StatusBadRequest, wantError: csrf},
		{name: "an API client's GET keeps the CSRF refusal", gw: withPlayground, method: "GET", path: "/graphql",
			headers: map[string]string{"Accept": "application/json"}, wantStatus: http.StatusBadRequest, wantError: csrf},
		{name: "curl's */* keeps the CSRF refusal", gw: withPlayground, method: "GET", path: "/graphql",
			headers: map[string]string{"Accept": "*/*"}, wantStatus: http.StatusBadRequest, wantError: csrf},
		{name: "a GET with a query keeps the CSRF refusal, even asking for HTML", gw: withPlayground, method: "GET", path: "/graphql" + query,
			headers: map[string]string{"Accept": browser}, wantStatus: http.StatusBadRequest, wantError: csrf},
		{name: "a GET with a query and a preflight header answers", gw: withPlayground, method: "GET", path: "/graphql" + query,
			headers: map[string]string{"Accept": browser, "X-Requested-With": "fetch"}, wantStatus: http.StatusOK},
		{name: "a persisted query's GET is not redirected", gw: withPlayground, method: "GET", path: "/graphql" + persisted,
			headers: map[string]string{"Accept": browser, "X-Requested-With": "fetch"}, wantStatus: http.StatusOK, wantError: "BAD_USER_INPUT: PersistedQueryNotFound"},
		{name: "a POST asking for HTML is not redirected", gw: withPlayground, method: "POST", path: "/graphql",
			headers: map[string]string{"Accept": browser, "Content-Type": "text/plain"}, wantStatus: http.StatusUnsupportedMediaType, wantError: "BAD_USER_INPUT: POST requests must have Content-Type: application/json"},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := fetch(t, client, tc.method, tc.gw.URL+tc.path, tc.headers)
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("HTTP %d, want %d: %s", res.StatusCode, tc.wantStatus, body)
			}
			if tc.wantStatus == http.StatusFound {
				loc, err := res.Location()
				if err != nil || loc.Path != "/playground" {
					t.Fatalf("Location %v (%v), want /playground", loc, err)
				}
				page, html := fetch(t, client, "GET", loc.String(), tc.headers)
				if page.StatusCode != http.StatusOK || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") || !strings.Contains(html, "publishgate") {
					t.Fatalf("the Playground answered HTTP %d %s: %.200s", page.StatusCode, page.Header.Get("Content-Type"), html)
				}
				return
			}
			var answer testkit.Response
			if err := json.Unmarshal([]byte(body), &answer); err != nil {
				t.Fatalf("HTTP %d, not JSON: %.200s", res.StatusCode, body)
			}
			switch {
			case tc.wantError == "" && len(answer.Errors) > 0:
				t.Fatalf("errors %+v, want none", answer.Errors)
			case tc.wantError == "":
			case len(answer.Errors) == 0:
				t.Fatalf("no error, want %q: %s", tc.wantError, body)
			default:
				if got := answer.Errors[0].Code() + ": " + answer.Errors[0].Message; !strings.Contains(got, tc.wantError) {
					t.Fatalf("error %q, want %q", got, tc.wantError)
				}
			}
		})
	}
}

// fetch sends one request with client and returns the answer and its body.
func fetch(t *testing.T, client *http.Client, method, url string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, url, err)
	}
	return res, string(raw)
}
