package gateway_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// TestSubscriptionFollowsAPublish subscribes to 3 bots over each transport
// (authenticated: WebSocket in connection_init, SSE with the header), starts
// a publish of one through publishBot, and sees the 3 current jobs, then the
// new job's progress rising, then its final state, then nothing more.
func TestSubscriptionFollowsAPublish(t *testing.T) {
	const poll = 100 * time.Millisecond
	cases := []struct {
		name      string
		subscribe func(t *testing.T, url, token string, refs []map[string]string) *liveClient
	}{
		{name: "graphql-transport-ws", subscribe: func(t *testing.T, url, token string, refs []map[string]string) *liveClient {
			return subscribeWS(t, url, token, refs)
		}},
		{name: "server-sent events", subscribe: func(t *testing.T, url, token string, refs []map[string]string) *liveClient {
			return subscribeSSE(t, http.DefaultClient, url, token, refs)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			acct := liveAccount("live", 3, 1500*time.Millisecond)
			sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
			gw := testkit.MustGateway(t, withAuth(t, liveConfig(t, sim.URL, poll, acct)), gateway.Options{})
			token := liveToken(t, true, "live")
			sub := tc.subscribe(t, gw.URL, token, refsOf(acct))

			initial := map[string]*liveJob{}
			for range 3 {
				ev := sub.next(t, 10*time.Second)
				if len(ev.Errors) > 0 || ev.Job == nil {
					t.Fatalf("initial event %+v", ev)
				}
				initial[ev.BotID] = ev.Job
			}
			if len(initial) != 3 {
				t.Fatalf("initial events for %d bots, want 3", len(initial))
			}

			target := acct.Bots[1].ID
			r := publishBot(t, gw.URL, token, map[string]any{"environment": "live", "botId": target}, nil)
			if len(r.Errors) > 0 {
				t.Fatalf("publishBot: %+v", r.Errors)
			}
			var started struct {
				PublishBot liveJob `json:"publishBot"`
			}
			r.Decode(t, &started)
			if started.PublishBot.Status != "INPROGRESS" || started.PublishBot.ID == initial[target].ID {
				t.Fatalf("publishBot answered %+v, want a new INPROGRESS job", started.PublishBot)
			}

			last, progress := -1, 0
			for {
				ev := sub.next(t, 10*time.Second)
				if ev.BotID != target || ev.Job == nil || ev.Job.ID != started.PublishBot.ID {
					t.Fatalf("unexpected event %+v (only the published bot's new job may change)", ev)
				}
				if ev.Job.PercentageComplete <= last {
					t.Fatalf("percentage went from %d to %d", last, ev.Job.PercentageComplete)
				}
				last = ev.Job.PercentageComplete
				if ev.Job.Status != "INPROGRESS" {
					if ev.Job.Status != "SUCCESSFUL" || last != 100 {
						t.Fatalf("final event %+v", ev.Job)
					}
					break
				}
				progress++
			}
			if progress < 3 {
				t.Errorf("%d progress events before the end, want several", progress)
			}
			// Silence: no further event for many poll intervals.
			select {
			case ev, ok := <-sub.Events:
				if ok {
					t.Fatalf("event after the final state: %+v", ev)
				}
			case <-time.After(10 * poll):
			}
		})
	}
}

// TestSubscriptionAuthentication checks that subscriptions follow the HTTP
// rules: a WebSocket without a valid token in connection_init is closed with
// 4403, and a ref in an environment not granted is FORBIDDEN.
func TestSubscriptionAuthentication(t *testing.T) {
	acct := liveAccount("live", 1, time.Second)
	other := liveAccount("other", 1, time.Second)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct, other))
	gw := testkit.MustGateway(t, withAuth(t, liveConfig(t, sim.URL, 100*time.Millisecond, acct, other)), gateway.Options{})
	for _, tc := range []struct{ name, token string }{
		{name: "no token", token: ""},
		{name: "forged token", token: liveToken(t, true, "live") + "x"},
	} {
		t.Run("websocket refused: "+tc.name, func(t *testing.T) {
			_, _, err := dialWS(t, gw.URL, tc.token)
			if err == nil || !strings.Contains(err.Error(), "4403") {
				t.Fatalf("connection_init answered %v, want close 4403", err)
			}
		})
	}
	t.Run("a forbidden environment", func(t *testing.T) {
		sub := subscribeWS(t, gw.URL, liveToken(t, false, "live"), refsOf(other))
		ev := sub.next(t, 5*time.Second)
		if len(ev.Errors) == 0 || ev.Errors[0].Code() != "FORBIDDEN" {
			t.Fatalf("event %+v, want FORBIDDEN", ev)
		}
	})
	t.Run("sse without a token is 401", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/graphql", strings.NewReader(`{"query":"subscription { publishStatusChanged(refs: []) { bot { id } } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("HTTP %d, want 401", resp.StatusCode)
		}
	})
}

// TestPublishBotNeedsTheClaimAndPublishesOnce: without the publish claim the
// mutation is FORBIDDEN and nothing reaches Kore.ai; with it, the same
// idempotency key (argument or header, sequential or concurrent) publishes
// once and answers the same job, in process and across replicas with Redis.
func TestPublishBotNeedsTheClaimAndPublishesOnce(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		name := "in process"
		if withRedis {
			name = "two replicas over redis"
		}
		t.Run(name, func(t *testing.T) {
			acct := liveAccount("live", 3, time.Minute)
			sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
			cfg := withAuth(t, liveConfig(t, sim.URL, 100*time.Millisecond, acct))
			if withRedis {
				cfg.Redis.URL = testkit.MustRedis(t).URL
			}
			a := testkit.MustGateway(t, cfg, gateway.Options{})
			b := a
			if withRedis {
				b = testkit.MustGateway(t, cfg, gateway.Options{})
			}
			bot := func(i int) map[string]any { return map[string]any{"environment": "live", "botId": acct.Bots[i].ID} }

			t.Run("no publish claim", func(t *testing.T) {
				r := publishBot(t, a.URL, liveToken(t, false, "live"), bot(0), nil)
				if len(r.Errors) != 1 || r.Errors[0].Code() != "FORBIDDEN" || r.Errors[0].PathString() != "publishBot" {
					t.Fatalf("answer %+v, want FORBIDDEN at publishBot", r.Errors)
				}
				if n := sim.Simulator.Stats().Publishes[acct.Bots[0].ID]; n != 0 {
					t.Fatalf("%d publish POSTs reached Kore.ai", n)
				}
			})

			token := liveToken(t, true, "live")
			for _, k := range []struct {
				name    string
				bot     int
				vars    func() map[string]any
				headers map[string]string
			}{
				{name: "key argument", bot: 1, vars: func() map[string]any { v := bot(1); v["key"] = "click-1"; return v }},
				{name: "Idempotency-Key header", bot: 2, vars: func() map[string]any { return bot(2) }, headers: map[string]string{"Idempotency-Key": "click-2"}},
			} {
				t.Run(k.name, func(t *testing.T) {
					var wg sync.WaitGroup
					ids := make([]string, 4)
					for i := range ids {
						wg.Go(func() {
							url := a.URL
							if i%2 == 1 {
								url = b.URL
							}
							r := publishBot(t, url, token, k.vars(), k.headers)
							var out struct {
								PublishBot *liveJob `json:"publishBot"`
							}
							r.Decode(t, &out)
							if len(r.Errors) > 0 || out.PublishBot == nil || out.PublishBot.Status != "INPROGRESS" {
								t.Errorf("answer %+v %+v", out.PublishBot, r.Errors)
								return
							}
							ids[i] = out.PublishBot.ID
						})
					}
					wg.Wait()
					for _, id := range ids[1:] {
						if id != ids[0] {
							t.Errorf("job IDs %v: the repeats did not answer the first job", ids)
						}
					}
					if n := sim.Simulator.Stats().Publishes[acct.Bots[k.bot].ID]; n != 1 {
						t.Errorf("%d publish POSTs reached Kore.ai, want 1", n)
					}
				})
			}
		})
	}
}
