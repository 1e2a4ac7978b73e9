package board_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// guardedGateway puts a front in front of gw that answers /graphql the way a gateway with auth on
// does (401 with an UNAUTHENTICATED error) unless the request carries "Bearer <token>", and that
// answers 502 with no GraphQL body while down is set, as a restarting gateway behind a proxy does.
func guardedGateway(tb testing.TB, gw *testkit.Gateway, token string, down *atomic.Bool, authorized *atomic.Int64) string {
	tb.Helper()
	target, err := url.Parse(gw.URL)
	if err != nil {
		tb.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	mux := http.NewServeMux()
	mux.HandleFunc("/graphql", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" { // a WebSocket authenticates in connection_init
			proxy.ServeHTTP(w, r)
			return
		}
		if down.Load() {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"message":"a bearer token is required","extensions":{"code":"UNAUTHENTICATED"}}]}`)
			return
		}
		authorized.Add(1)
		proxy.ServeHTTP(w, r)
	})
	mux.Handle("/", proxy)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv.URL
}

// TestBoardAsksForATokenAndShowsTheConnection checks the token flow against a gateway that
// requires one (the prompt on 401, the token sent as a bearer token and kept in session storage
// only) and the connection indicator through an outage (offline, retry, polling again). It polls
// (?live=0): an outage shows at the next poll, not at the next WebSocket failure.
func TestBoardAsksForATokenAndShowsTheConnection(t *testing.T) {
	gw, accts := demoGateway(t)
	n := botCount(accts)
	const token = "board-test-token.not-a-real-jwt"
	var down atomic.Bool
	var authorized atomic.Int64
	front := guardedGateway(t, gw, token, &down, &authorized)

	b := mustBrowser(t)
	b.do(t, "open the board", chromedp.EmulateViewport(shotWidth, shotHeight), chromedp.Navigate(front+"/board?live=0"))
	b.waitFor(t, loadTimeout, "asking for a token",
		`document.getElementById('token').open && document.getElementById('conn').dataset.state === 'auth' && document.activeElement.id === 'token-input'`)
	if got := eval[string](t, b, `document.getElementById('conn-text').textContent`); got != "Token needed" {
		t.Errorf("connection indicator reads %q, want Token needed", got)
	}
	if authorized.Load() != 0 {
		t.Fatal("a request passed the guard before a token was given")
	}

	b.do(t, "paste the token and submit", chromedp.SendKeys(chromedp.ID("token-input"), token+kb.Enter))
	b.waitFor(t, loadTimeout, "showing the board with the token", loaded(n)+` && !document.getElementById('token').open`)
	if authorized.Load() == 0 {
		t.Error("no request carried the bearer token")
	}
	if got := eval[string](t, b, `sessionStorage.getItem('publishgate.board.token')`); got != token {
		t.Errorf("session storage holds %q, want the token", got)
	}
	if got := eval[int](t, b, `localStorage.length`); got != 0 {
		t.Errorf("local storage holds %d items, want none", got)
	}

	down.Store(true)
	b.waitFor(t, 20*time.Second, "showing the gateway offline, with a retry button",
		`document.getElementById('conn').dataset.state === 'offline' && !document.getElementById('retry').hidden && document.getElementById('conn-text').textContent.startsWith('Offline')`)
	if got := eval[int](t, b, `document.querySelectorAll('tr[data-bot-id]').length`); got != n {
		t.Errorf("offline, the board shows %d bots, want the last %d kept", got, n)
	}
	down.Store(false)
	b.do(t, "retry now", chromedp.Click(chromedp.ID("retry")))
	b.waitFor(t, 10*time.Second, "polling again", `document.getElementById('conn').dataset.state === 'polling' && document.getElementById('retry').hidden`)

	b.do(t, "reload", chromedp.Reload())
	b.waitFor(t, loadTimeout, "showing the board with the kept token", loaded(n))
	if eval[bool](t, b, `document.getElementById('token').open`) {
		t.Error("the token was asked for again after a reload in the same tab")
	}

	for _, p := range b.consoleProblems() {
		// The browser logs the 401 and 502 answers themselves; anything else is a fault of the page.
		if !strings.Contains(p, "status of 401") && !strings.Contains(p, "status of 502") {
			t.Errorf("console: %s", p)
		}
	}
	if off := b.offLoopback(); len(off) > 0 {
		t.Errorf("the page asked for URLs off this machine: %q", off)
	}
}

// TestBoardMarksStaleAnswers makes Kore.ai fail for a bot the board already showed: the gateway
// then serves the last good answer as stale and names the failure in extensions.warnings, and
// the board marks that row stale, with the code. It polls (?live=0), so that the stale answer is
// the one a query gets.
func TestBoardMarksStaleAnswers(t *testing.T) {
	accts := slowPublishAccounts(t)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(accts...))
	cfg := testkit.Config(t, sim.URL, accts...)
	cfg.Cache.TTL = config.Duration(time.Second)
	gw := testkit.MustGateway(t, cfg, gateway.Options{})
	n := botCount(accts)
	id := simulator.DemoBotID("Banking Assistant")

	b := mustBrowser(t)
	b.do(t, "open the board", chromedp.EmulateViewport(shotWidth, shotHeight), chromedp.Navigate(gw.URL+"/board?live=0"))
	b.waitFor(t, loadTimeout, "showing every bot", loaded(n)+` && `+row(id)+`.dataset.state === 'successful'`)

	if err := sim.Simulator.SetFaults(simulator.FaultSet{Bots: map[string]simulator.Fault{id: {ErrorRate: 1, ErrorStatus: 503}}}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, 30*time.Second, "marking the bot stale", row(id)+`.classList.contains('is-stale')`)
	text := eval[string](t, b, row(id)+`.querySelector('.c-changed').textContent`)
	if !strings.Contains(text, "Stale") || !strings.Contains(text, "UPSTREAM_UNAVAILABLE") {
		t.Errorf("stale row reads %q, want Stale and UPSTREAM_UNAVAILABLE", text)
	}
	if state := eval[string](t, b, row(id)+`.dataset.state`); state != "successful" {
		t.Errorf("stale row's state is %q, want the last good one, successful", state)
	}
	b.do(t, "filter the stale bots", chromedp.Evaluate[chromedp.Void](
		`(() => { const s = document.getElementById('f-state'); s.value = 'stale'; s.dispatchEvent(new Event('change')); })()`))
	b.waitFor(t, 5*time.Second, "showing the stale bot under the stale filter", visibleRows+`.includes('Banking Assistant')`)

	if p := b.consoleProblems(); len(p) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(p, "\n"))
	}
}
