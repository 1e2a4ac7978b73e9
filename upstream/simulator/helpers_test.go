package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 20, 10, 11, 12, 345_000_000, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Test bots and apps.
const (
	botDone    = "st-00000000-0000-4000-8000-000000000001"
	botNever   = "st-00000000-0000-4000-8000-000000000002"
	botRun     = "st-00000000-0000-4000-8000-000000000003" // 0%, 100 s, succeeds
	botFail    = "st-00000000-0000-4000-8000-000000000004" // 50%, 100 s, fails
	botRepub   = "st-00000000-0000-4000-8000-000000000005" // 0%, 100 s, republish 20 s later
	botBeta    = "st-00000000-0000-4000-8000-0000000000b1"
	botGamma   = "st-00000000-0000-4000-8000-0000000000c1"
	botUnknown = "st-00000000-0000-4000-8000-0000000000ff"

	alphaID, alphaSecret = "cs-alpha", "alpha-secret"
	betaID, betaSecret   = "cs-beta", "beta-secret"
	gammaID, gammaSecret = "cs-gamma", "gamma-secret"
)

// testAccounts: alpha has every scope and five bots; beta is upper-case, enforces JTI and may
// only read statuses; gamma may publish and list bots but not read statuses.
func testAccounts() []Account {
	return []Account{
		{
			Name: "alpha", ClientID: alphaID, ClientSecret: alphaSecret,
			Bots: []Bot{
				{ID: botDone, Name: "Done", State: StateSuccessful},
				{ID: botNever, Name: "Never", State: StateNeverPublished},
				{ID: botRun, Name: "Run", State: StateInProgress, PublishDuration: 100 * time.Second},
				{ID: botFail, Name: "Fail", State: StateInProgress, Percentage: 50, PublishDuration: 100 * time.Second, FailPublish: true},
				{ID: botRepub, Name: "Repub", State: StateInProgress, PublishDuration: 100 * time.Second, Republish: 20 * time.Second},
			},
		},
		{
			Name: "beta", ClientID: betaID, ClientSecret: betaSecret, UpperCase: true, EnforceJTI: true,
			Scopes: []Scope{ScopePublishStatus},
			Bots:   []Bot{{ID: botBeta, Name: "Beta", State: StateSuccessful}},
		},
		{
			Name: "gamma", ClientID: gammaID, ClientSecret: gammaSecret,
			Scopes: []Scope{ScopePublish, ScopeBotList},
			Bots:   []Bot{{ID: botGamma, Name: "Gamma", State: StateSuccessful}},
		},
	}
}

// harness is a simulator on a fake clock behind a real HTTP server.
type harness struct {
	t     *testing.T
	sim   *Simulator
	clock *fakeClock
	srv   *httptest.Server
}

func newHarness(t *testing.T, opts ...Option) *harness {
	t.Helper()
	clock := newFakeClock()
	sim := New(append([]Option{WithAccounts(testAccounts()...), WithClock(clock.Now), WithSeed(1)}, opts...)...)
	srv := httptest.NewUnstartedServer(sim)
	srv.Config.ConnState = sim.ConnStateHook()
	srv.Start()
	t.Cleanup(func() {
		sim.Close() // first: the server waits for hung handlers
		srv.Close()
	})
	return &harness{t: t, sim: sim, clock: clock, srv: srv}
}

// with returns h reporting to t, for subtests.
func (h *harness) with(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

// token mints an HS256 token for an app, valid for a minute on the fake clock.
func (h *harness) token(appID, secret string) string {
	h.t.Helper()
	now := h.clock.Now()
	return mintToken(h.t, secret, jwt.MapClaims{
		"appId": appID, "sub": "test", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	})
}

func mintToken(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatalf("sign token: %v", err)
	}
	return s
}

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request; token "" sends no auth header.
func (h *harness) do(method, path, token string, body any) response {
	h.t.Helper()
	return h.doCtx(context.Background(), method, path, token, body)
}

func (h *harness) doCtx(ctx context.Context, method, path, token string, body any) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			h.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	if token != "" {
		req.Header.Set("auth", token)
	}
	res, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatalf("read body: %v", err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// status gets a bot's publish status as alpha.
func (h *harness) status(botID string) response {
	h.t.Helper()
	return h.do(http.MethodGet, statusPath(botID), h.token(alphaID, alphaSecret), nil)
}

func statusPath(botID string) string { return "/api/public/bot/" + botID + "/publish/status" }

// decode decodes a body into a generic value and fails the test if it is not JSON.
func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

// errorMsg returns the first msg and code of a Kore.ai error body.
func errorMsg(t *testing.T, body []byte) (string, int) {
	t.Helper()
	e := decode[errorsJSON](t, body)
	if len(e.Errors) != 1 {
		t.Fatalf("want one error in %s", body)
	}
	return e.Errors[0].Msg, e.Errors[0].Code
}

// wantError checks an answer is a Kore.ai error with that status, message and code.
func wantError(t *testing.T, r response, status int, msg string, code int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	gotMsg, gotCode := errorMsg(t, r.body)
	if gotMsg != msg || gotCode != code {
		t.Fatalf("error = %q/%d, want %q/%d", gotMsg, gotCode, msg, code)
	}
}
