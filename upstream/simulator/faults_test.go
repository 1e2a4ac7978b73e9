package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFaultAnswers(t *testing.T) {
	tests := []struct {
		name       string
		fault      Fault
		status     int
		msg        string
		retryAfter string
	}{
		{"error rate 1 answers 500 by default", Fault{ErrorRate: 1}, 500, "Internal Server Error", ""},
		{"error status 502", Fault{ErrorRate: 1, ErrorStatus: 502}, 502, "Bad Gateway", ""},
		{"error status 503", Fault{ErrorRate: 1, ErrorStatus: 503}, 503, "Service Unavailable", ""},
		{"rate limited with Retry-After", Fault{RateLimited: true, RetryAfter: 1500 * time.Millisecond}, 429, "Too many requests", "2"},
		{"rate limited without Retry-After", Fault{RateLimited: true}, 429, "Too many requests", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, WithFault(tt.fault)).with(t)
			r := h.status(botDone)
			wantError(t, r, tt.status, tt.msg, tt.status)
			if got := r.header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
		})
	}
}

func TestFaultMalformed(t *testing.T) {
	h := newHarness(t, WithFault(Fault{Malformed: true}))
	alpha := h.token(alphaID, alphaSecret)
	for _, path := range []string{statusPath(botDone), statusPath(botNever), "/api/public/bots"} {
		r := h.do(http.MethodGet, path, alpha, nil)
		var v any
		if r.status != 200 || json.Unmarshal(r.body, &v) == nil {
			t.Errorf("%s: %d %s, want 200 with a body that does not decode", path, r.status, r.body)
		}
	}
	// Errors stay well-formed: Malformed only replaces a 200.
	wantError(t, h.status(botUnknown), 400, "Invalid StreamId", 400)
}

func TestFaultPrecedence(t *testing.T) {
	h := newHarness(t, WithFault(Fault{ErrorRate: 1, ErrorStatus: 500}))
	if err := h.sim.SetAccountFault(alphaID, Fault{ErrorRate: 1, ErrorStatus: 502}); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.SetBotFault(botDone, Fault{ErrorRate: 1, ErrorStatus: 503}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		do     func() response
		status int
	}{
		{"bot fault wins over the account's", func() response { return h.status(botDone) }, 503},
		{"account fault wins over the global", func() response { return h.status(botRun) }, 502},
		{"global fault for other accounts", func() response {
			return h.do(http.MethodGet, "/api/public/bots", h.token(gammaID, gammaSecret), nil)
		}, 500},
		{"authentication failures win over faults", func() response {
			return h.do(http.MethodGet, statusPath(botDone), "", nil)
		}, 401},
	}
	for _, tt := range tests {
		if r := tt.do(); r.status != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, r.status, tt.status)
		}
	}
	if err := h.sim.SetBotFault(botDone, Fault{}); err != nil {
		t.Fatal(err)
	}
	if r := h.status(botDone); r.status != 502 {
		t.Errorf("after clearing the bot fault: %d, want the account's 502", r.status)
	}
	if err := h.sim.SetBotFault(botUnknown, Fault{}); !errors.Is(err, ErrUnknownBot) {
		t.Errorf("SetBotFault(unknown) = %v, want ErrUnknownBot", err)
	}
	if err := h.sim.SetAccountFault("cs-nobody", Fault{}); !errors.Is(err, ErrUnknownApp) {
		t.Errorf("SetAccountFault(unknown) = %v, want ErrUnknownApp", err)
	}
}

func TestFaultErrorRateIsAProbability(t *testing.T) {
	h := newHarness(t, WithFault(Fault{ErrorRate: 0.5}))
	var failed int
	for range 200 {
		if h.status(botDone).status == 500 {
			failed++
		}
	}
	if failed < 60 || failed > 140 {
		t.Fatalf("%d of 200 failed at rate 0.5", failed)
	}
}

func TestFaultJitterStaysInRange(t *testing.T) {
	sim := New(WithAccounts(testAccounts()...), WithFault(Fault{Latency: time.Second, Jitter: 500 * time.Millisecond}), WithSeed(7))
	a := sim.accounts[alphaID]
	seen := map[time.Duration]bool{}
	for range 100 {
		d := sim.decideFault(a, nil)
		if d.delay < time.Second || d.delay >= 1500*time.Millisecond {
			t.Fatalf("delay %v outside [1s, 1.5s)", d.delay)
		}
		seen[d.delay] = true
	}
	if len(seen) < 50 {
		t.Fatalf("only %d distinct delays in 100 draws", len(seen))
	}
}

func TestFaultLatencyDelaysTheAnswer(t *testing.T) {
	h := newHarness(t, WithFault(Fault{Latency: 30 * time.Millisecond}))
	start := time.Now()
	if r := h.status(botDone); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Fatalf("answered in %v, want at least 30ms", took)
	}
}

// serveInBackground runs one request through ServeHTTP and reports when it returns.
func serveInBackground(sim *Simulator, req *http.Request) (*httptest.ResponseRecorder, <-chan struct{}) {
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sim.ServeHTTP(rec, req)
	}()
	return rec, done
}

func TestFaultWaitsReleasedByClientCancel(t *testing.T) {
	for name, f := range map[string]Fault{"hang": {Hang: true}, "latency": {Latency: time.Hour}} {
		t.Run(name, func(t *testing.T) {
			clock := newFakeClock()
			sim := New(WithAccounts(testAccounts()...), WithClock(clock.Now), WithFault(f))
			waiting := make(chan struct{}, 1)
			sim.testHookWait = func() { waiting <- struct{}{} }
			ctx, cancel := context.WithCancel(context.Background())
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, statusPath(botDone), nil)
			req.Header.Set("auth", mintToken(t, alphaSecret, map[string]any{"appId": alphaID}))
			_, done := serveInBackground(sim, req)
			<-waiting
			cancel()
			<-done
			if st := sim.Stats(); st.ByStatus[StatusClientGone] != 1 || st.Total != 1 {
				t.Fatalf("stats %+v, want one request counted as %s", st, StatusClientGone)
			}
		})
	}
}

func TestFaultHangReleasedByClose(t *testing.T) {
	h := newHarness(t, WithFault(Fault{Hang: true}))
	waiting := make(chan struct{}, 1)
	h.sim.testHookWait = func() { waiting <- struct{}{} }
	answered := make(chan response, 1)
	tok := h.token(alphaID, alphaSecret)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+statusPath(botDone), nil)
		req.Header.Set("auth", tok)
		res, err := h.srv.Client().Do(req)
		if err != nil {
			answered <- response{}
			return
		}
		res.Body.Close()
		answered <- response{status: res.StatusCode}
	}()
	<-waiting
	h.sim.Close()
	h.sim.Close() // idempotent
	if r := <-answered; r.status != 503 {
		t.Fatalf("hung request answered %d after Close, want 503", r.status)
	}
}

func TestFaultJSON(t *testing.T) {
	f := Fault{Latency: 50 * time.Millisecond, Jitter: time.Second, ErrorRate: 0.25, ErrorStatus: 502, RetryAfter: 3 * time.Second, RateLimited: true, Hang: true, Malformed: true}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"latency":"50ms"`) {
		t.Errorf("marshalled %s, want durations as strings", data)
	}
	var back Fault
	if err := json.Unmarshal(data, &back); err != nil || back != f {
		t.Fatalf("round trip: %+v, %v; want %+v", back, err, f)
	}
	for _, bad := range []string{
		`{"latency":"fast"}`, `{"latency":"-1s"}`, `{"latency":50}`, `{"errorRate":2}`,
		`{"errorStatus":404}`, `{"latncy":"1s"}`,
	} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
