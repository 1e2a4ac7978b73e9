package simulator

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDemoAccountsShape(t *testing.T) {
	accts := DemoAccounts()
	if len(accts) < 3 {
		t.Fatalf("%d accounts, want at least 3", len(accts))
	}
	botID := regexp.MustCompile(`^st-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ids := map[string]bool{}
	states := map[State]int{}
	var republishing, upper, faulty int
	for _, a := range accts {
		if a.Name == "" || !strings.HasPrefix(a.ClientID, "cs-") || a.ClientSecret == "" {
			t.Errorf("account %+v", a)
		}
		if a.UpperCase {
			upper++
		}
		for _, b := range a.Bots {
			if !botID.MatchString(b.ID) || ids[b.ID] || b.Name == "" {
				t.Errorf("bot %q %q: bad or duplicate ID", b.Name, b.ID)
			}
			ids[b.ID] = true
			states[b.State]++
			if b.State == StateInProgress && b.Republish > 0 {
				republishing++
				if b.PublishDuration < 2*time.Minute || b.PublishDuration > 3*time.Minute {
					t.Errorf("%s publishes in %v, want 2-3 min", b.Name, b.PublishDuration)
				}
			}
			if b.Fault != nil {
				faulty++
				if b.Name != DemoFailingBot || a.Name != "prod-eu" || b.Fault.ErrorRate != 1 || b.Fault.ErrorStatus != 503 {
					t.Errorf("unexpected fault on %s/%s: %+v", a.Name, b.Name, *b.Fault)
				}
			}
		}
	}
	if len(ids) < 30 {
		t.Errorf("%d bots, want at least 30", len(ids))
	}
	if states[StateSuccessful] <= len(ids)/2 || states[StateFailed] < 1 || states[StateNeverPublished] < 1 || republishing < 3 {
		t.Errorf("states %v with %d republishing: want mostly successful, a failed, a never published and 3 publishing", states, republishing)
	}
	if upper != 1 || faulty != 1 {
		t.Errorf("%d upper-case accounts and %d faulty bots, want 1 and 1", upper, faulty)
	}
	// Stable across calls and runs: the ID is a function of the name alone.
	if again := DemoAccounts(); again[0].Bots[0].ID != accts[0].Bots[0].ID {
		t.Error("IDs differ between two calls")
	}
	if got, want := DemoBotID("Banking Assistant"), "st-a4ced2f2-8606-583f-8fae-444d42cebbe3"; got != want {
		t.Errorf("DemoBotID changed: %s, was %s (dashboards and saved queries rely on it)", got, want)
	}
}

func TestDemoServes(t *testing.T) {
	h := newHarness(t, WithAccounts(DemoAccounts()...))
	secret := map[string]string{}
	for _, a := range DemoAccounts() {
		secret[a.Name] = a.ClientSecret
	}
	get := func(h *harness, account, bot string) response {
		return h.do(http.MethodGet, statusPath(DemoBotID(bot)), h.token("cs-demo-"+account, secret[account]), nil)
	}
	tests := []struct {
		name     string
		account  string
		bot      string
		status   int
		jobState string // "" for no job
	}{
		{"failing bot always answers 503", "prod-eu", DemoFailingBot, 503, ""},
		{"never published bot has no job", "prod-us", DemoNeverPublishedBot, 200, ""},
		{"failed bot", "prod-us", DemoFailedBot, 200, "failed"},
		{"publishing bot", "prod-us", DemoPublishingBot, 200, "inprogress"},
		{"upper-case account", "prod-eu", "Telco Support Agent", 200, "INPROGRESS"},
		{"dev account", "dev", "Onboarding Buddy", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(h.with(t), tt.account, tt.bot)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d (%s)", r.status, tt.status, r.body)
			}
			if tt.status == 200 {
				if job := decode[jobJSON](t, r.body); job.Status != tt.jobState {
					t.Fatalf("job status %q, want %q", job.Status, tt.jobState)
				}
			}
		})
	}
	// The publishing bot advances visibly between two queries seconds apart.
	before := decode[jobJSON](t, get(h, "prod-us", DemoPublishingBot).body)
	h.clock.Advance(5 * time.Second)
	after := decode[jobJSON](t, get(h, "prod-us", DemoPublishingBot).body)
	if after.PercentageComplete <= before.PercentageComplete {
		t.Fatalf("progress %d%% -> %d%% in 5 s, want it to rise", before.PercentageComplete, after.PercentageComplete)
	}
}

func TestPlausibleBotMixesStatesStably(t *testing.T) {
	states := map[State]int{}
	for i := range 400 {
		id := DemoBotID(strings.Repeat("x", i))
		b := PlausibleBot(id, "n")
		if b != PlausibleBot(id, "n") || b.ID != id {
			t.Fatal("PlausibleBot is not a function of the ID")
		}
		if b.State == StateInProgress && (b.Republish <= 0 || b.Percentage < 0 || b.Percentage > 99) {
			t.Fatalf("publishing bot %+v", b)
		}
		states[b.State]++
	}
	if states[StateSuccessful] < 200 || states[StateInProgress] == 0 || states[StateFailed] == 0 || states[StateNeverPublished] == 0 {
		t.Fatalf("states of 400 bots: %v", states)
	}
}
