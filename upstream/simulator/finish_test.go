package simulator

import (
	"net/http"
	"net/url"
	"testing"
)

func TestFinishPublish(t *testing.T) {
	tests := []struct {
		name       string
		bot        string
		failed     bool
		query      string // the control route's query; "" = call FinishPublish
		wantStatus string
	}{
		{name: "an in-progress publish ends failed", bot: botRun, failed: true, wantStatus: "failed"},
		{name: "a publish configured to fail ends successful", bot: botFail, wantStatus: "successful"},
		{name: "a never-published bot gets a failed job", bot: botNever, failed: true, wantStatus: "failed"},
		{name: "over HTTP, failed", bot: botRun, query: "outcome=failed", wantStatus: "failed"},
		{name: "over HTTP, successful by default", bot: botRun, query: "outcome=", wantStatus: "successful"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			before := decode[jobJSON](t, h.status(tt.bot).body)
			if tt.query == "" {
				if err := h.sim.FinishPublish(tt.bot, tt.failed); err != nil {
					t.Fatal(err)
				}
			} else if r := h.do(http.MethodPost, "/_simulator/finish/"+url.PathEscape(tt.bot)+"?"+tt.query, "", nil); r.status != 204 {
				t.Fatalf("POST finish: %d %s", r.status, r.body)
			}
			job := decode[jobJSON](t, h.status(tt.bot).body)
			if job.Status != tt.wantStatus || job.PercentageComplete != 100 {
				t.Fatalf("after finishing: status %q at %d%%, want %q at 100%%", job.Status, job.PercentageComplete, tt.wantStatus)
			}
			if before.ID != "" && job.ID != before.ID {
				t.Fatalf("the running job was replaced (%s -> %s), want it finished", before.ID, job.ID)
			}
		})
	}
}

func TestFinishPublishRefusals(t *testing.T) {
	h := newHarness(t)
	if r := h.do(http.MethodPost, "/_simulator/finish/"+botUnknown+"?outcome=failed", "", nil); r.status != 404 {
		t.Fatalf("unknown bot: %d, want 404", r.status)
	}
	if r := h.do(http.MethodPost, "/_simulator/finish/"+botRun+"?outcome=maybe", "", nil); r.status != 400 {
		t.Fatalf("unknown outcome: %d, want 400", r.status)
	}
	if r := h.do(http.MethodGet, "/_simulator/finish/"+botRun, "", nil); r.status != 405 {
		t.Fatalf("GET: %d, want 405", r.status)
	}
}

func TestHeldCountsHangingRequests(t *testing.T) {
	h := newHarness(t, WithFault(Fault{Hang: true}))
	waiting := make(chan struct{}, 2)
	h.sim.testHookWait = func() { waiting <- struct{}{} }
	tok := h.token(alphaID, alphaSecret)
	done := make(chan struct{}, 2)
	for range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			req, _ := http.NewRequest(http.MethodGet, h.srv.URL+statusPath(botDone), nil)
			req.Header.Set("auth", tok)
			if res, err := h.srv.Client().Do(req); err == nil {
				res.Body.Close()
			}
		}()
	}
	<-waiting // the hook runs once the request is counted
	<-waiting
	if n := h.sim.Held(); n != 2 {
		t.Fatalf("Held() = %d, want 2", n)
	}
	if st := h.sim.Stats(); st.Held != 2 {
		t.Fatalf("Stats().Held = %d, want 2", st.Held)
	}
	h.sim.Close()
	<-done
	<-done
	if n := h.sim.Held(); n != 0 {
		t.Fatalf("after Close: Held() = %d, want 0", n)
	}
}
