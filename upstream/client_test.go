package upstream_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// fixture is a simulator with one account of a few bots in known states.
type fixture struct {
	srv     *simulator.Server
	acct    simulator.Account
	ok      string // successful bot
	running string // in progress
	never   string // never published
}

func newFixture(t *testing.T, mutate func(*simulator.Account), opts ...simulator.Option) fixture {
	t.Helper()
	f := fixture{
		acct:    simulator.Account{Name: "prod", ClientID: "cs-prod", ClientSecret: "prod-secret-0123456789abcdef0123456789"},
		ok:      testkit.BotID("ok"),
		running: testkit.BotID("running"),
		never:   testkit.BotID("never"),
	}
	f.acct.Bots = []simulator.Bot{
		{ID: f.ok, Name: "OK", State: simulator.StateSuccessful},
		{ID: f.running, Name: "Running", State: simulator.StateInProgress, Percentage: 40, PublishDuration: time.Hour},
		{ID: f.never, Name: "Never", State: simulator.StateNeverPublished},
	}
	if mutate != nil {
		mutate(&f.acct)
	}
	f.srv = testkit.MustSimulator(t, append([]simulator.Option{simulator.WithAccounts(f.acct)}, opts...)...)
	return f
}

func (f fixture) client(t *testing.T, creds upstream.Credentials, opts ...upstream.Option) *upstream.Client {
	t.Helper()
	c, err := upstream.New(f.srv.URL, creds, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func (f fixture) creds() upstream.Credentials {
	return upstream.Credentials{ClientID: f.acct.ClientID, ClientSecret: f.acct.ClientSecret}
}

func TestPublishStatusOutcomes(t *testing.T) {
	f := newFixture(t, nil)
	otherScopes := newFixture(t, func(a *simulator.Account) { a.Scopes = []simulator.Scope{simulator.ScopeBotList} })
	cases := []struct {
		name    string
		fix     fixture
		creds   upstream.Credentials
		bot     string
		wantErr error
		wantMsg string
	}{
		{name: "valid token reads the job", fix: f, creds: f.creds(), bot: f.ok},
		{name: "wrong secret is unauthorized", fix: f, creds: upstream.Credentials{ClientID: "cs-prod", ClientSecret: "not-the-secret"}, bot: f.ok, wantErr: upstream.ErrUnauthorized, wantMsg: "Invalid SDK credentials"},
		{name: "unknown appId is unauthorized", fix: f, creds: upstream.Credentials{ClientID: "cs-nobody", ClientSecret: f.acct.ClientSecret}, bot: f.ok, wantErr: upstream.ErrUnauthorized, wantMsg: "Invalid SDK credentials"},
		{name: "non-JWT token is unauthorized", fix: f, creds: upstream.Credentials{Token: "not-a-jwt"}, bot: f.ok, wantErr: upstream.ErrUnauthorized, wantMsg: "Invalid JWT token"},
		{name: "missing scope is unauthorized", fix: otherScopes, creds: otherScopes.creds(), bot: otherScopes.ok, wantErr: upstream.ErrUnauthorized, wantMsg: "Scope is incorrect"},
		{name: "unknown bot is not found", fix: f, creds: f.creds(), bot: testkit.BotID("nobody"), wantErr: upstream.ErrBotNotFound, wantMsg: "Invalid StreamId"},
		{name: "never published is its own sentinel", fix: f, creds: f.creds(), bot: f.never, wantErr: upstream.ErrNeverPublished},
		{name: "implausible bot ID makes no request", fix: f, creds: f.creds(), bot: "st-x/../../admin", wantErr: upstream.ErrInvalidBotID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.fix.client(t, tc.creds)
			before := tc.fix.srv.Simulator.Stats().Total
			job, err := c.PublishStatus(context.Background(), tc.bot)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("PublishStatus: %v", err)
				}
				if job.StreamID != tc.bot || job.Status != upstream.StateSuccessful || job.PercentageComplete != 100 || len(job.StatusSummary) == 0 {
					t.Fatalf("job = %+v", job)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.wantMsg)
			}
			if tc.wantErr == upstream.ErrInvalidBotID {
				if got := tc.fix.srv.Simulator.Stats().Total - before; got != 0 {
					t.Fatalf("%d upstream requests for an invalid bot ID, want 0", got)
				}
			}
			if strings.Contains(err.Error(), tc.fix.acct.ClientSecret) {
				t.Fatalf("error text contains the client secret: %q", err)
			}
		})
	}
}

func TestPublishStatusFaults(t *testing.T) {
	cases := []struct {
		name      string
		fault     simulator.Fault
		timeout   time.Duration
		wantErr   error
		wantRetry time.Duration
	}{
		{name: "429 is rate limited with Retry-After", fault: simulator.Fault{RateLimited: true, RetryAfter: 7 * time.Second}, wantErr: upstream.ErrRateLimited, wantRetry: 7 * time.Second},
		{name: "500 is unavailable", fault: simulator.Fault{ErrorRate: 1, ErrorStatus: 500}, wantErr: upstream.ErrUnavailable},
		{name: "502 is unavailable", fault: simulator.Fault{ErrorRate: 1, ErrorStatus: 502}, wantErr: upstream.ErrUnavailable},
		{name: "503 is unavailable", fault: simulator.Fault{ErrorRate: 1, ErrorStatus: 503}, wantErr: upstream.ErrUnavailable},
		{name: "hang past the deadline times out", fault: simulator.Fault{Hang: true}, timeout: 150 * time.Millisecond, wantErr: upstream.ErrTimeout},
		{name: "malformed JSON is a bad response", fault: simulator.Fault{Malformed: true}, wantErr: upstream.ErrBadResponse},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, simulator.WithFault(tc.fault))
			opts := []upstream.Option{upstream.WithRetries(0, 0)}
			if tc.timeout > 0 {
				opts = append(opts, upstream.WithTimeout(tc.timeout))
			}
			_, err := f.client(t, f.creds(), opts...).PublishStatus(context.Background(), f.ok)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var ue *upstream.Error
			if !errors.As(err, &ue) {
				t.Fatalf("err %T is not an *upstream.Error", err)
			}
			if ue.RetryAfter != tc.wantRetry {
				t.Fatalf("RetryAfter = %v, want %v", ue.RetryAfter, tc.wantRetry)
			}
		})
	}
}

func TestCallerDeadlineBoundsTheCall(t *testing.T) {
	f := newFixture(t, nil, simulator.WithFault(simulator.Fault{Hang: true}))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := f.client(t, f.creds(), upstream.WithRetries(2, 0)).PublishStatus(ctx, f.ok)
	if !errors.Is(err, upstream.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	// The call has returned, so no further attempt can start; the simulator
	// records the abandoned one when it notices the client left.
	testkit.Eventually(t, 5*time.Second, "the simulator never recorded the abandoned attempt", func() bool {
		return f.srv.Simulator.Stats().Total >= 1
	})
	if n := f.srv.Simulator.Stats().Total; n != 1 {
		t.Fatalf("%d attempts, want 1: no retry may start past the deadline", n)
	}
}

func TestRetriesOnlyIdempotentFailures(t *testing.T) {
	cases := []struct {
		name  string
		fault simulator.Fault
		bot   func(fixture) string
		want  int64
	}{
		{name: "503 is retried up to the limit", fault: simulator.Fault{ErrorRate: 1, ErrorStatus: 503}, bot: func(f fixture) string { return f.ok }, want: 3},
		{name: "unknown bot is not retried", bot: func(fixture) string { return testkit.BotID("nobody") }, want: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, simulator.WithFault(tc.fault))
			_, err := f.client(t, f.creds(), upstream.WithRetries(2, time.Millisecond)).PublishStatus(context.Background(), tc.bot(f))
			if err == nil {
				t.Fatal("want an error")
			}
			if n := f.srv.Simulator.Stats().Total; n != tc.want {
				t.Fatalf("%d requests, want %d", n, tc.want)
			}
		})
	}
}

func TestClientStatusMappingOfRawAnswers(t *testing.T) {
	f := newFixture(t, nil)
	cases := []struct {
		name   string
		method string
		auth   string
		want   int
		msg    string
	}{
		{name: "missing auth header is 401", method: http.MethodGet, want: http.StatusUnauthorized, msg: "Invalid SDK credentials"},
		{name: "wrong method is 405", method: http.MethodDelete, auth: "x", want: http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, f.srv.URL+"/api/public/bot/"+f.ok+"/publish/status", nil)
			if tc.auth != "" {
				req.Header.Set("auth", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			err = upstream.StatusError(resp)
			wantKind := upstream.ErrUnauthorized
			if tc.want == http.StatusMethodNotAllowed {
				wantKind = upstream.ErrBadResponse
			}
			if !errors.Is(err, wantKind) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("StatusError = %v, want %v mentioning %q", err, wantKind, tc.msg)
			}
		})
	}
}

func TestTokenIsVerifiedBySimulator(t *testing.T) {
	f := newFixture(t, nil)
	c := f.client(t, f.creds())
	for range 2 {
		if _, err := c.PublishStatus(context.Background(), f.ok); err != nil {
			t.Fatal(err)
		}
	}
	claims, ok := f.srv.Simulator.LastClaims(f.acct.ClientID)
	if !ok {
		t.Fatal("the simulator verified no token for the app")
	}
	if claims["appId"] != f.acct.ClientID {
		t.Fatalf("appId = %v, want %s", claims["appId"], f.acct.ClientID)
	}
	for _, k := range []string{"sub", "iat", "exp"} {
		if _, ok := claims[k]; !ok {
			t.Fatalf("claim %s missing from %v", k, claims)
		}
	}
	if _, ok := claims["jti"]; ok {
		t.Fatal("jti sent although the environment does not enforce JTI")
	}
}

func TestJTIModeMintsAFreshTokenPerRequest(t *testing.T) {
	f := newFixture(t, func(a *simulator.Account) { a.EnforceJTI = true })
	creds := f.creds()
	creds.JTI = true
	c := f.client(t, creds)
	seen := map[any]bool{}
	for range 3 {
		if _, err := c.PublishStatus(context.Background(), f.ok); err != nil {
			t.Fatalf("PublishStatus with jti: %v", err)
		}
		claims, _ := f.srv.Simulator.LastClaims(f.acct.ClientID)
		if seen[claims["jti"]] {
			t.Fatalf("jti %v reused", claims["jti"])
		}
		seen[claims["jti"]] = true
	}
	// A reused token is refused by a JTI-enforcing app: the non-JTI client
	// would send the same token twice.
	plain := f.client(t, f.creds())
	_, _ = plain.PublishStatus(context.Background(), f.ok)
	if _, err := plain.PublishStatus(context.Background(), f.ok); !errors.Is(err, upstream.ErrUnauthorized) {
		t.Fatalf("replayed token: err = %v, want ErrUnauthorized", err)
	}
}

func TestDecodingVariants(t *testing.T) {
	lower := newFixture(t, nil)
	upper := newFixture(t, func(a *simulator.Account) { a.UpperCase = true })
	for _, tc := range []struct {
		name string
		fix  fixture
		raw  func(string) bool
	}{
		{name: "lower-case status", fix: lower, raw: func(s string) bool { return s == strings.ToLower(s) }},
		{name: "upper-case status", fix: upper, raw: func(s string) bool { return s == strings.ToUpper(s) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.fix.client(t, tc.fix.creds())
			job, err := c.PublishStatus(context.Background(), tc.fix.running)
			if err != nil {
				t.Fatal(err)
			}
			if job.Status != upstream.StateInProgress || !tc.raw(job.RawStatus) {
				t.Fatalf("status %q (raw %q)", job.Status, job.RawStatus)
			}
			if job.PercentageComplete < 40 || job.PercentageComplete >= 100 {
				t.Fatalf("percentage %d", job.PercentageComplete)
			}
			var langs *upstream.ResourceStatus
			for i := range job.StatusSummary {
				if job.StatusSummary[i].ResourceType == "BOTLANGUAGES" {
					langs = &job.StatusSummary[i]
				}
			}
			if langs == nil || !slices.Contains(langs.Modules, "enabledLanguages:en") {
				t.Fatalf("BOTLANGUAGES modules in object form not decoded: %+v", langs)
			}
			if job.LastModifiedOn == nil || job.RequestedTime == nil {
				t.Fatalf("times not decoded: %+v", job)
			}
		})
	}
}

func TestVersionedPath(t *testing.T) {
	f := newFixture(t, nil)
	c := f.client(t, f.creds(), upstream.WithVersionedPath(true))
	if _, err := c.PublishStatus(context.Background(), f.ok); err != nil {
		t.Fatal(err)
	}
	var versioned int64
	for p, n := range f.srv.Simulator.Stats().ByPath {
		if strings.Contains(p, "/api/1.1/public/") && strings.HasSuffix(p, "/") {
			versioned += n
		}
	}
	if versioned != 1 {
		t.Fatalf("versioned requests = %d, stats %v", versioned, f.srv.Simulator.Stats().ByPath)
	}
}

func TestConnectionsAreReused(t *testing.T) {
	f := newFixture(t, nil)
	const conc = 8
	tr := upstream.NewTransport(conc)
	t.Cleanup(tr.CloseIdleConnections) // before the simulator stops
	c := f.client(t, f.creds(), upstream.WithConcurrency(conc), upstream.WithHTTPClient(&http.Client{Transport: tr}))
	burst := func() {
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				if _, err := c.PublishStatus(context.Background(), f.ok); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	burst()
	// Go's transport may dial a spare connection while one is being
	// returned to the pool, so the first burst can exceed the concurrency a
	// little; what matters is that the pool keeps them all (Go's default of
	// 2 idle connections per host would redial most of them every burst).
	first := f.srv.Simulator.Stats().Connections
	if first > 2*conc {
		t.Fatalf("%d connections for concurrency %d", first, conc)
	}
	burst()
	if again := f.srv.Simulator.Stats().Connections; again-first > 1 {
		t.Fatalf("second burst opened %d new connections, want at most 1", again-first)
	}
}

// TestMintedTokenShape checks the token the client would send, as a second
// line of defence behind the simulator's own verification.
func TestMintedTokenShape(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.client(t, f.creds()).PublishStatus(context.Background(), f.ok)
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := f.srv.Simulator.LastClaims(f.acct.ClientID)
	exp, _ := claims["exp"].(float64)
	iat, _ := claims["iat"].(float64)
	if life := time.Duration(exp-iat) * time.Second; life <= 0 || life > time.Hour {
		t.Fatalf("token lifetime %v, want (0, 1h]", life)
	}
	_ = jwt.SigningMethodHS256 // the simulator accepts only HS256
}

// TestTransportKeepsConnectionsToManyHosts: a gateway with twenty
// environments reuses its connections to every one of them (a cap on idle
// connections across hosts once made it re-dial past the sixteenth).
func TestTransportKeepsConnectionsToManyHosts(t *testing.T) {
	const hosts, perHost = 20, 4
	var dials atomic.Int64
	urls := make([]string, hosts)
	for i := range urls {
		// Each request waits for the other perHost of its round at the same
		// host, so that every round needs perHost connections to each.
		var (
			mu      sync.Mutex
			arrived int
			all     = make(chan struct{})
		)
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			ch := all
			if arrived++; arrived == perHost {
				close(all)
				arrived, all = 0, make(chan struct{})
			}
			mu.Unlock()
			select {
			case <-ch:
			case <-r.Context().Done():
			}
			_, _ = io.WriteString(w, "ok")
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				dials.Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		urls[i] = srv.URL
	}
	client := &http.Client{Transport: upstream.NewTransport(perHost)}
	round := func() {
		var wg sync.WaitGroup
		for _, u := range urls {
			for range perHost {
				wg.Go(func() {
					resp, err := client.Get(u)
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				})
			}
		}
		wg.Wait()
	}
	round()
	first := dials.Load()
	if first != hosts*perHost {
		t.Fatalf("the first round opened %d connections, want %d", first, hosts*perHost)
	}
	round()
	if again := dials.Load() - first; again != 0 {
		t.Fatalf("the second round opened %d new connections (first: %d), want 0", again, first)
	}
}
