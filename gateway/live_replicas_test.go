package gateway_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/live"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// publishingAccount is an account of n bots all publishing slowly (about 1%
// every publishFor/100), so every poll sees a change.
func publishingAccount(name string, n int, publishFor time.Duration) simulator.Account {
	a := liveAccount(name, n, publishFor)
	for i := range a.Bots {
		a.Bots[i].State, a.Bots[i].Percentage = simulator.StateInProgress, 1
	}
	return a
}

// replica is one gateway of a group sharing Redis, with its server, so a
// test can kill it.
type replica struct {
	gw  *gateway.Gateway
	srv *httptest.Server
}

func (r *replica) kill() {
	r.srv.CloseClientConnections()
	r.srv.Close()
	_ = r.gw.Close()
}

func startReplicas(t *testing.T, cfg *config.Config, n int) []*replica {
	t.Helper()
	out := make([]*replica, n)
	for i := range out {
		// A generous Redis timeout: three replicas, a simulator and 100
		// clients share this machine's CPUs under the race detector.
		gw, err := gateway.New(context.Background(), cfg, gateway.Options{RedisTimeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{gw: gw, srv: httptest.NewServer(gw.Handler())}
		t.Cleanup(r.kill)
		out[i] = r
	}
	return out
}

// awaitInitial reads the initial event of every bot of each client.
func awaitInitial(t *testing.T, clients []*liveClient, bots int) {
	t.Helper()
	for _, c := range clients {
		seen := map[string]bool{}
		for len(seen) < bots {
			ev := c.next(t, 15*time.Second)
			if len(ev.Errors) > 0 {
				t.Fatalf("event error: %+v", ev.Errors)
			}
			seen[ev.BotID] = true
		}
	}
}

// TestPollersAreSharedAcrossSubscribersAndReplicas: 100 subscribers spread
// over 3 replicas watching the same 50 publishing bots cost Kore.ai as many
// requests as one subscriber does (within one poll interval per bot).
func TestPollersAreSharedAcrossSubscribersAndReplicas(t *testing.T) {
	const (
		bots   = 50
		poll   = time.Second
		window = 4 * time.Second
	)
	acct := publishingAccount("many", bots, time.Hour)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct), simulator.WithRateLimits(100000, 1000000))
	cfg := liveConfig(t, sim.URL, poll, acct)
	cfg.Redis.URL = testkit.MustRedis(t).URL
	replicas := startReplicas(t, cfg, 3)
	refs := refsOf(acct)

	measure := func(subscribers int) map[string]int64 {
		clients := make([]*liveClient, subscribers)
		for i := range clients {
			clients[i] = subscribeWSQuery(t, replicas[i%len(replicas)].srv.URL, "", liveSubscriptionLight, refs)
		}
		start := time.Now()
		awaitInitial(t, clients, bots)
		t.Logf("%d subscribers: initial events in %v", subscribers, time.Since(start))
		sim.Simulator.Reset()
		<-time.After(window) // the measurement window, not synchronisation
		counts := sim.Simulator.Stats().ByBot
		for _, c := range clients {
			c.Close()
		}
		for _, r := range replicas {
			testkit.Eventually(t, 10*time.Second, "watches stop when the subscribers leave", func() bool { return r.gw.Live.Watching() == 0 })
		}
		t.Logf("%d subscribers: done after %v", subscribers, time.Since(start))
		return counts
	}
	one := measure(1)
	many := measure(100)
	// One poller reads each bot at most once per interval: window/poll + 1
	// reads per bot. A loaded machine (the race detector, parallel packages)
	// may poll less, so the one-subscriber count is also the measured one.
	cadence := int64(window/poll) + 1
	var totalOne, totalMany int64
	for _, b := range acct.Bots {
		o, m := one[b.ID], many[b.ID]
		totalOne, totalMany = totalOne+o, totalMany+m
		if m > max(o, cadence)+1 {
			t.Errorf("bot %s: %d requests with 100 subscribers on 3 replicas, %d with one (at most %d per bot in %v)", b.ID, m, o, cadence, window)
		}
	}
	if totalOne < bots*cadence/3 || totalMany < bots*cadence/3 {
		t.Errorf("%d and %d requests in %v for %d bots polled every %v: the pollers stalled", totalOne, totalMany, window, bots, poll)
	}
	t.Logf("requests in %v: one subscriber %d, 100 subscribers on 3 replicas %d", window, totalOne, totalMany)
}

// TestLeaseHandoverWhenTheHolderDies: the replica polling a bot is killed;
// subscribers of the other replicas keep receiving its progress within a
// few seconds, from the replica that took the lease over.
func TestLeaseHandoverWhenTheHolderDies(t *testing.T) {
	const poll = 100 * time.Millisecond
	acct := publishingAccount("ha", 1, 100*time.Second) // 1% a second
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct), simulator.WithRateLimits(100000, 1000000))
	cfg := liveConfig(t, sim.URL, poll, acct)
	r := testkit.MustRedis(t)
	cfg.Redis.URL = r.URL
	replicas := startReplicas(t, cfg, 3)
	refs := refsOf(acct)
	clients := make([]*liveClient, len(replicas))
	for i, rep := range replicas {
		clients[i] = subscribeWS(t, rep.srv.URL, "", refs)
	}
	awaitInitial(t, clients, 1)

	rdb := r.Client(t)
	key := live.LeaseKey(live.Key{Environment: "ha", BotID: acct.Bots[0].ID})
	holder := -1
	testkit.Eventually(t, 10*time.Second, "one replica holds the lease", func() bool {
		id, _ := rdb.Get(context.Background(), key).Result()
		for i, rep := range replicas {
			if rep.gw.Live.ID() == id {
				holder = i
			}
		}
		return holder >= 0
	})
	replicas[holder].kill()
	killedAt := time.Now()

	for i, c := range clients {
		if i == holder {
			continue
		}
		// Drain what arrived before the kill, then await a new percentage.
		last := -1
	drain:
		for {
			select {
			case ev := <-c.Events:
				last = ev.Job.PercentageComplete
			default:
				break drain
			}
		}
		for {
			ev := c.next(t, 6*time.Second)
			if ev.Job != nil && ev.Job.PercentageComplete > last {
				break
			}
		}
		if d := time.Since(killedAt); d > 6*time.Second {
			t.Errorf("replica %d: next event %v after the holder died", i, d)
		}
	}
	testkit.Eventually(t, 10*time.Second, "a survivor holds the lease", func() bool {
		id, _ := rdb.Get(context.Background(), key).Result()
		return id != "" && id != replicas[holder].gw.Live.ID()
	})
	t.Logf("replica %d held the lease; progress resumed %v after its death", holder, time.Since(killedAt).Round(time.Millisecond))
}
