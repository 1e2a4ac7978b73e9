package simulator

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestConcurrentUse drives every mutable part of the simulator at once; run with -race.
func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, WithRateLimits(1000, 10000), WithFault(Fault{ErrorRate: 0.1}))
	alpha := h.token(alphaID, alphaSecret)
	gamma := h.token(gammaID, gammaSecret)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 25 {
				bot := []string{botDone, botRun, botFail, botRepub, botNever}[(i+j)%5]
				h.do(http.MethodGet, statusPath(bot), alpha, nil)
				if j%5 == 0 {
					h.do(http.MethodPost, "/api/public/bot/"+bot+"/publish", alpha, map[string]any{"versionComment": "c"})
					h.do(http.MethodGet, "/api/public/bots?limit=2", gamma, nil)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			h.clock.Advance(time.Second)
			h.sim.SetFault(Fault{ErrorRate: float64(i%3) / 10})
			_ = h.sim.SetBotFault(botRun, Fault{Malformed: i%2 == 0})
			h.sim.SetRateLimits(1000+i, 10000)
			_ = h.sim.StartPublish(botDone)
			h.sim.Stats()
			h.sim.Faults()
			h.sim.LastClaims(alphaID)
			if i%10 == 0 {
				h.sim.Reset()
			}
		}
	})
	wg.Wait()
	if h.sim.Stats().Total == 0 {
		t.Fatal("nothing counted")
	}
}
