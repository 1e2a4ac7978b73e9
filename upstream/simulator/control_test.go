package simulator

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestStatsCounting(t *testing.T) {
	h := newHarness(t)
	alpha := h.token(alphaID, alphaSecret)
	h.do(http.MethodGet, statusPath(botDone), alpha, nil)
	h.do(http.MethodGet, statusPath(botDone)+"/", alpha, nil)
	h.do(http.MethodGet, statusPath(botUnknown), alpha, nil)
	h.do(http.MethodGet, statusPath(botDone), "", nil)
	h.do(http.MethodPost, "/api/public/bot/"+botRun+"/publish", alpha, map[string]any{"versionComment": "v"})
	h.do(http.MethodGet, "/api/public/bots", h.token(gammaID, gammaSecret), nil)
	h.do(http.MethodGet, "/nowhere", "", nil)
	h.do(http.MethodGet, "/_simulator/stats", "", nil) // never counted

	got := h.sim.Stats()
	want := Stats{
		Total: 7,
		ByPath: map[string]int64{
			"GET /api/public/bot/{botId}/publish/status":  3,
			"GET /api/public/bot/{botId}/publish/status/": 1,
			"POST /api/public/bot/{botId}/publish":        1,
			"GET /api/public/bots":                        1,
			"GET " + PathUnknown:                          1,
		},
		ByBot:     map[string]int64{botDone: 3, botUnknown: 1, botRun: 1},
		ByStatus:  map[string]int64{"200": 4, "400": 1, "401": 1, "404": 1},
		ByAccount: map[string]int64{"alpha": 4, "gamma": 1},
		Publishes: map[string]int64{botRun: 1},
	}
	got.Connections = 0 // counted apart, below
	if !statsEqual(got, want) {
		t.Fatalf("stats\n got %+v\nwant %+v", got, want)
	}

	h.sim.Reset()
	if z := h.sim.Stats(); z.Total != 0 || len(z.ByPath) != 0 || len(z.ByBot) != 0 || len(z.Publishes) != 0 || z.ByPath == nil {
		t.Fatalf("after Reset: %+v", z)
	}
}

func statsEqual(a, b Stats) bool {
	eq := func(x, y map[string]int64) bool {
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if y[k] != v {
				return false
			}
		}
		return true
	}
	return a.Total == b.Total && a.Connections == b.Connections && eq(a.ByPath, b.ByPath) && eq(a.ByBot, b.ByBot) &&
		eq(a.ByStatus, b.ByStatus) && eq(a.ByAccount, b.ByAccount) && eq(a.Publishes, b.Publishes)
}

func TestStatsConnections(t *testing.T) {
	h := newHarness(t)
	for range 3 {
		h.status(botDone)
	}
	if n := h.sim.Stats().Connections; n != 1 {
		t.Fatalf("connections = %d after three keep-alive requests, want 1", n)
	}
	h.srv.Client().Transport.(*http.Transport).DisableKeepAlives = true
	h.status(botDone)
	h.status(botDone)
	if n := h.sim.Stats().Connections; n != 3 {
		t.Fatalf("connections = %d, want 3", n)
	}
}

func TestControlEndpoints(t *testing.T) {
	h := newHarness(t)
	alpha := h.token(alphaID, alphaSecret)
	h.status(botDone)

	stats := decode[Stats](t, h.do(http.MethodGet, "/_simulator/stats", "", nil).body)
	if stats.Total != 1 || stats.ByBot[botDone] != 1 {
		t.Fatalf("GET stats = %+v", stats)
	}
	if r := h.do(http.MethodPost, "/_simulator/reset", "", nil); r.status != 204 {
		t.Fatalf("POST reset: %d", r.status)
	}
	if st := h.sim.Stats(); st.Total != 0 {
		t.Fatalf("after reset: total %d", st.Total)
	}

	// Faults over HTTP, with durations as strings.
	body := `{"global":{"latency":"1ms"},"accounts":{"cs-gamma":{"errorRate":1,"errorStatus":502}},"bots":{"` + botDone + `":{"rateLimited":true,"retryAfter":"7s"}}}`
	if r := h.do(http.MethodPut, "/_simulator/faults", "", body); r.status != 200 {
		t.Fatalf("PUT faults: %d %s", r.status, r.body)
	}
	if r := h.do(http.MethodGet, statusPath(botDone), alpha, nil); r.status != 429 || r.header.Get("Retry-After") != "7" {
		t.Fatalf("bot with a fault set over HTTP: %d %q", r.status, r.header.Get("Retry-After"))
	}
	if r := h.do(http.MethodGet, "/api/public/bots", h.token(gammaID, gammaSecret), nil); r.status != 502 {
		t.Fatalf("account with a fault set over HTTP: %d", r.status)
	}
	fs := decode[FaultSet](t, h.do(http.MethodGet, "/_simulator/faults", "", nil).body)
	if fs.Global == nil || fs.Global.Latency != time.Millisecond || fs.Bots[botDone].RetryAfter != 7*time.Second || fs.Accounts[gammaID].ErrorStatus != 502 {
		t.Fatalf("GET faults = %+v", fs)
	}
	// Entries not named are kept; a zero fault clears one.
	if r := h.do(http.MethodPut, "/_simulator/faults", "", `{"bots":{"`+botDone+`":{}}}`); r.status != 200 {
		t.Fatalf("PUT faults: %d", r.status)
	}
	fs = h.sim.Faults()
	if _, ok := fs.Bots[botDone]; ok || fs.Accounts[gammaID].ErrorStatus != 502 || fs.Global.Latency != time.Millisecond {
		t.Fatalf("after clearing one bot: %+v", fs)
	}

	// Rate limits over HTTP.
	if r := h.do(http.MethodPut, "/_simulator/ratelimits", "", `{"perMinute":1,"perHour":1800}`); r.status != 200 {
		t.Fatalf("PUT ratelimits: %d %s", r.status, r.body)
	}
	if rl := decode[RateLimitsJSON](t, h.do(http.MethodGet, "/_simulator/ratelimits", "", nil).body); rl.PerMinute != 1 || rl.PerHour != 1800 {
		t.Fatalf("GET ratelimits = %+v", rl)
	}
	h.status(botRun)
	if r := h.status(botRun); r.status != 429 {
		t.Fatalf("second request under 1/min: %d", r.status)
	}

	// Publishing from the control API.
	if r := h.do(http.MethodPost, "/_simulator/publish/"+url.PathEscape(botNever), "", nil); r.status != 204 {
		t.Fatalf("POST publish: %d %s", r.status, r.body)
	}
	if job := decode[jobJSON](t, h.status(botNever).body); job.Status != "inprogress" {
		t.Fatalf("after publishing from the control API: %+v", job)
	}

	// None of the control requests were counted.
	if st := h.sim.Stats(); st.ByPath["GET "+PathUnknown] != 0 || st.Total != 5 {
		t.Fatalf("control requests counted: %+v", st)
	}
}

func TestControlRefusals(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
	}{
		{"unknown control route", http.MethodGet, "/_simulator/nothing", nil, 404},
		{"stats by POST", http.MethodPost, "/_simulator/stats", nil, 405},
		{"reset by GET", http.MethodGet, "/_simulator/reset", nil, 405},
		{"faults by DELETE", http.MethodDelete, "/_simulator/faults", nil, 405},
		{"fault with a bad duration", http.MethodPut, "/_simulator/faults", `{"global":{"latency":"soon"}}`, 400},
		{"fault with an unknown field", http.MethodPut, "/_simulator/faults", `{"global":{"hnag":true}}`, 400},
		{"faults with an unknown key", http.MethodPut, "/_simulator/faults", `{"botz":{}}`, 400},
		{"fault of an unknown bot", http.MethodPut, "/_simulator/faults", `{"bots":{"st-nope":{"hang":true}}}`, 400},
		{"fault of an unknown app", http.MethodPut, "/_simulator/faults", `{"accounts":{"cs-nope":{"hang":true}}}`, 400},
		{"negative rate limit", http.MethodPut, "/_simulator/ratelimits", `{"perMinute":-1}`, 400},
		{"rate limits not JSON", http.MethodPut, "/_simulator/ratelimits", `x`, 400},
		{"publish of an unknown bot", http.MethodPost, "/_simulator/publish/st-nope", nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.with(t).do(tt.method, tt.path, "", tt.body)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d (%s)", r.status, tt.status, r.body)
			}
			errorMsg(t, r.body)
		})
	}
	if f := h.sim.Faults(); !f.Global.IsZero() || len(f.Bots) != 0 || len(f.Accounts) != 0 {
		t.Fatalf("a refused PUT changed faults: %+v", f)
	}
	if st := h.sim.Stats(); st.Total != 0 {
		t.Fatalf("control requests counted: %+v", st)
	}
}

func TestListenAndServe(t *testing.T) {
	sim := New(WithAccounts(testAccounts()...))
	srv, err := Listen("127.0.0.1:0", sim)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(srv.URL + "/_simulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("stats over a real listener: %d", res.StatusCode)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if sim.Stats().Connections != 1 {
		t.Errorf("Listen did not install the connection hook")
	}

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, "127.0.0.1:0", New()) }()
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	if err := Serve(context.Background(), "127.0.0.1:-1", New()); err == nil {
		t.Fatal("Serve on a bad address succeeded")
	}
}
