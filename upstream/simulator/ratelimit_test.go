package simulator

import (
	"net/http"
	"testing"
	"time"
)

func TestWindowAllow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		perMinute int
		perHour   int
		hits      []time.Duration // offsets from t0 of requests already let through
		at        time.Duration
		wantOK    bool
		wantRetry time.Duration
	}{
		{"off", 0, 0, []time.Duration{0, 0, 0}, 0, true, 0},
		{"under the minute limit", 3, 0, []time.Duration{0, 1 * time.Second}, 2 * time.Second, true, 0},
		{"at the minute limit", 3, 0, []time.Duration{0, 10 * time.Second, 20 * time.Second}, 30 * time.Second, false, 30 * time.Second},
		{"minute window rolled", 3, 0, []time.Duration{0, 10 * time.Second, 20 * time.Second}, 60 * time.Second, true, 0},
		{"oldest of the last perMinute frees the slot", 2, 0, []time.Duration{0, 10 * time.Second, 20 * time.Second}, 65 * time.Second, false, 5 * time.Second},
		{"at the hour limit", 0, 2, []time.Duration{0, 30 * time.Minute}, 40 * time.Minute, false, 20 * time.Minute},
		{"hour window rolled", 0, 2, []time.Duration{0, 30 * time.Minute}, 60 * time.Minute, true, 0},
		{"both exceeded: the longer wait", 2, 2, []time.Duration{0, 30 * time.Second}, 40 * time.Second, false, time.Hour - 40*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w window
			for _, h := range tt.hits {
				w.hits = append(w.hits, t0.Add(h))
			}
			ok, retry := w.allow(t0.Add(tt.at), tt.perMinute, tt.perHour)
			if ok != tt.wantOK || retry != tt.wantRetry {
				t.Fatalf("allow = %v, %v; want %v, %v", ok, retry, tt.wantOK, tt.wantRetry)
			}
		})
	}
}

func TestRateLimitOverHTTP(t *testing.T) {
	h := newHarness(t, WithRateLimits(3, 5))
	alpha := h.token(alphaID, alphaSecret)
	get := func() response { return h.do(http.MethodGet, statusPath(botDone), alpha, nil) }
	for i := range 3 {
		if r := get(); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	r := get()
	wantError(t, r, 429, "Too many requests", 429)
	if ra := r.header.Get("Retry-After"); ra != "60" {
		t.Fatalf("Retry-After = %q, want 60", ra)
	}
	// Other bots and the publish route have windows of their own.
	if r := h.status(botRun); r.status != 200 {
		t.Fatalf("another bot: %d", r.status)
	}
	if r := h.do(http.MethodPost, "/api/public/bot/"+botDone+"/publish", alpha, map[string]any{"versionComment": "v"}); r.status != 200 {
		t.Fatalf("publish of the limited bot: %d", r.status)
	}
	// Unknown bots are refused before the limit and never consume it.
	for range 5 {
		if r := h.do(http.MethodGet, statusPath(botUnknown), alpha, nil); r.status != 400 {
			t.Fatalf("unknown bot: %d", r.status)
		}
	}
	h.clock.Advance(45 * time.Second)
	alpha = h.token(alphaID, alphaSecret)
	if r := get(); r.status != 429 || r.header.Get("Retry-After") != "15" {
		t.Fatalf("45 s later: %d Retry-After %q, want 429 and 15", r.status, r.header.Get("Retry-After"))
	}
	h.clock.Advance(15 * time.Second)
	alpha = h.token(alphaID, alphaSecret)
	for i := range 2 {
		if r := get(); r.status != 200 {
			t.Fatalf("after the minute rolled, request %d: %d", i, r.status)
		}
	}
	// Five in the hour now: the hour window refuses until the first request is an hour old.
	h.clock.Advance(2 * time.Minute)
	alpha = h.token(alphaID, alphaSecret)
	r = get()
	wantError(t, r, 429, "Too many requests", 429)
	if ra := r.header.Get("Retry-After"); ra != "3420" { // 60 min - 3 min since the first
		t.Fatalf("Retry-After = %q, want 3420", ra)
	}
	if got := h.sim.Stats().ByStatus["429"]; got != 3 {
		t.Errorf("429s counted = %d, want 3", got)
	}
}

func TestRateLimitBotListPerAccount(t *testing.T) {
	h := newHarness(t, WithRateLimits(1, 0))
	alpha := h.token(alphaID, alphaSecret)
	if r := h.do(http.MethodGet, "/api/public/bots", alpha, nil); r.status != 200 {
		t.Fatalf("first list: %d", r.status)
	}
	if r := h.do(http.MethodGet, "/api/public/bots", alpha, nil); r.status != 429 {
		t.Fatalf("second list: %d, want 429", r.status)
	}
	if r := h.do(http.MethodGet, "/api/public/bots", h.token(gammaID, gammaSecret), nil); r.status != 200 {
		t.Fatalf("another account's list: %d", r.status)
	}
}

func TestResetForgetsRateLimitHistory(t *testing.T) {
	h := newHarness(t)
	h.sim.SetRateLimits(1, 0)
	h.status(botDone)
	if r := h.status(botDone); r.status != 429 {
		t.Fatalf("second request: %d, want 429", r.status)
	}
	h.sim.Reset()
	if r := h.status(botDone); r.status != 200 {
		t.Fatalf("after Reset: %d, want 200", r.status)
	}
	if m, hr := h.sim.RateLimits(); m != 1 || hr != 0 {
		t.Fatalf("Reset changed the limits to %d/%d", m, hr)
	}
}
