package simulator

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// resourceStatuses counts a job's resources by status.
func resourceStatuses(job jobJSON) map[string]int {
	out := map[string]int{}
	for _, r := range job.StatusSummary {
		out[strings.ToUpper(r.Status)]++
	}
	return out
}

func TestJobProgress(t *testing.T) {
	tests := []struct {
		name       string
		bot        string
		steps      []time.Duration // clock moves before each read
		wantPct    []int
		wantStatus []string
	}{
		{"publish rises to successful", botRun,
			[]time.Duration{0, 30 * time.Second, 40 * time.Second, 30 * time.Second, time.Hour},
			[]int{0, 30, 70, 100, 100},
			[]string{"inprogress", "inprogress", "inprogress", "successful", "successful"}},
		{"failing publish ends failed", botFail,
			[]time.Duration{0, 25 * time.Second, 25 * time.Second},
			[]int{50, 75, 100},
			[]string{"inprogress", "inprogress", "failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var last jobJSON
			for i, d := range tt.steps {
				h.clock.Advance(d)
				job := decode[jobJSON](t, h.status(tt.bot).body)
				if job.PercentageComplete != tt.wantPct[i] || job.Status != tt.wantStatus[i] {
					t.Fatalf("step %d: %d%% %s, want %d%% %s", i, job.PercentageComplete, job.Status, tt.wantPct[i], tt.wantStatus[i])
				}
				if i > 0 && job.PercentageComplete > last.PercentageComplete && job.LastModifiedOn <= last.LastModifiedOn {
					t.Errorf("step %d: lastModifiedOn %s did not move from %s", i, job.LastModifiedOn, last.LastModifiedOn)
				}
				if i > 0 && job.ID != last.ID {
					t.Errorf("step %d: job ID changed without a republish", i)
				}
				counts := resourceStatuses(job)
				if i > 0 && job.PercentageComplete < 100 && counts["SUCCESS"] < resourceStatuses(last)["SUCCESS"] {
					t.Errorf("step %d: fewer resources done than before", i)
				}
				last = job
			}
			counts := resourceStatuses(last)
			switch last.Status {
			case "successful":
				if counts["SUCCESS"] != len(last.StatusSummary) {
					t.Errorf("successful job with resources %v", counts)
				}
			case "failed":
				if counts["FAILED"] != 1 || counts["INPROGRESS"] != 0 {
					t.Errorf("failed job with resources %v, want exactly one FAILED", counts)
				}
			}
		})
	}
}

func TestJobResourcesFlipAsItAdvances(t *testing.T) {
	h := newHarness(t)
	start := resourceStatuses(decode[jobJSON](t, h.status(botRun).body))
	if start["INPROGRESS"] != 8 {
		t.Fatalf("at 0%%: %v, want every resource in progress", start)
	}
	h.clock.Advance(60 * time.Second)
	mid := resourceStatuses(decode[jobJSON](t, h.status(botRun).body))
	if mid["SUCCESS"] == 0 || mid["INPROGRESS"] == 0 {
		t.Fatalf("at 60%%: %v, want some done and some in progress", mid)
	}
}

func TestJobRepublish(t *testing.T) {
	h := newHarness(t)
	first := decode[jobJSON](t, h.status(botRepub).body)
	h.clock.Advance(100 * time.Second)
	done := decode[jobJSON](t, h.status(botRepub).body)
	if done.Status != "successful" || done.ID != first.ID {
		t.Fatalf("after 100 s: %s %s, want the first job successful", done.ID, done.Status)
	}
	h.clock.Advance(19 * time.Second)
	if still := decode[jobJSON](t, h.status(botRepub).body); still.ID != first.ID {
		t.Fatal("republished before the delay")
	}
	h.clock.Advance(11 * time.Second) // 10 s into the next publish
	next := decode[jobJSON](t, h.status(botRepub).body)
	if next.ID == first.ID || next.Status != "inprogress" || next.PercentageComplete != 10 {
		t.Fatalf("after the delay: %s %s %d%%, want a new job at 10%%", next.ID, next.Status, next.PercentageComplete)
	}
	// A clock that jumps many cycles lands in the right phase of the right cycle.
	h.clock.Advance(24*time.Hour + 50*time.Second) // a day is 720 cycles of 120 s; +50 s = 60% of that cycle
	far := decode[jobJSON](t, h.status(botRepub).body)
	if far.ID == next.ID || far.Status != "inprogress" || far.PercentageComplete != 60 {
		t.Fatalf("a day later: %s %d%%, want a new job at 60%%", far.Status, far.PercentageComplete)
	}
}

func TestJobIDsAreStableAcrossRuns(t *testing.T) {
	a := decode[jobJSON](t, newHarness(t).status(botDone).body)
	b := decode[jobJSON](t, newHarness(t).status(botDone).body)
	if a.ID != b.ID || a.InitiatedOn != b.InitiatedOn {
		t.Fatalf("job differs between two simulators on the same clock: %s/%s vs %s/%s", a.ID, a.InitiatedOn, b.ID, b.InitiatedOn)
	}
}

func TestStartPublish(t *testing.T) {
	h := newHarness(t)
	before := decode[jobJSON](t, h.status(botDone).body)
	if err := h.sim.StartPublish(botDone); err != nil {
		t.Fatal(err)
	}
	after := decode[jobJSON](t, h.status(botDone).body)
	if after.ID == before.ID || after.Status != "inprogress" || after.PercentageComplete != 0 {
		t.Fatalf("after StartPublish: %s %s %d%%", after.ID, after.Status, after.PercentageComplete)
	}
	if err := h.sim.StartPublish(botUnknown); err == nil {
		t.Fatal("StartPublish of an unknown bot succeeded")
	}
	if st := h.sim.Stats(); st.Publishes[botDone] != 0 {
		t.Errorf("StartPublish counted as a publish POST: %v", st.Publishes)
	}
}

func TestPublish(t *testing.T) {
	tests := []struct {
		name   string
		bot    string
		body   any
		status int
		msg    string
	}{
		{"publish starts a job", botDone, map[string]any{"versionComment": "v2", "initiateTraining": true}, 200, ""},
		{"missing versionComment", botDone, map[string]any{"initiateTraining": false}, 412, "versionComment is required"},
		{"blank versionComment", botDone, map[string]any{"versionComment": "  "}, 412, "versionComment is required"},
		{"empty body", botDone, nil, 412, "versionComment is required"},
		{"body that is not JSON", botDone, "{", 400, "Invalid request body"},
		{"unknown bot", botUnknown, map[string]any{"versionComment": "v2"}, 400, "Invalid StreamId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t).with(t)
			r := h.do(http.MethodPost, "/api/public/bot/"+tt.bot+"/publish", h.token(alphaID, alphaSecret), tt.body)
			if tt.msg != "" {
				wantError(t, r, tt.status, tt.msg, tt.status)
				if h.sim.Stats().Publishes[tt.bot] != 0 {
					t.Error("refused publish counted")
				}
				return
			}
			entries := decode[[]publishEntryJSON](t, r.body)
			if r.status != 200 || len(entries) != 8 {
				t.Fatalf("got %d with %d entries: %s", r.status, len(entries), r.body)
			}
			for _, e := range entries {
				if e.ResourceID == "" || e.ResourceType == "" || e.Status != "INPROGRESS" {
					t.Errorf("entry %+v", e)
				}
			}
			if n := h.sim.Stats().Publishes[tt.bot]; n != 1 {
				t.Errorf("publishes = %d, want 1", n)
			}
			job := decode[jobJSON](t, h.status(tt.bot).body)
			if job.Status != "inprogress" || job.PercentageComplete != 0 {
				t.Errorf("after publish: %s %d%%", job.Status, job.PercentageComplete)
			}
		})
	}
}

func TestPublishOfFailingBotAwaitsApproval(t *testing.T) {
	h := newHarness(t)
	r := h.do(http.MethodPost, "/api/1.1/public/bot/"+botFail+"/publish/", h.token(alphaID, alphaSecret), map[string]any{"versionComment": "v"})
	var awaiting int
	for _, e := range decode[[]publishEntryJSON](t, r.body) {
		if e.Status == "awaitingApproval" {
			awaiting++
		}
	}
	if awaiting == 0 {
		t.Fatalf("no dialog awaiting approval in %s", r.body)
	}
	h.clock.Advance(100 * time.Second)
	if job := decode[jobJSON](t, h.status(botFail).body); job.Status != "failed" {
		t.Fatalf("status = %s, want failed", job.Status)
	}
}

func TestBotList(t *testing.T) {
	h := newHarness(t)
	tok := h.token(gammaID, gammaSecret)
	alpha := h.token(alphaID, alphaSecret)
	tests := []struct {
		name      string
		token     string
		query     string
		status    int
		wantIDs   []string
		wantMore  bool
		wantTotal int
	}{
		{"first page", alpha, "?offset=0&limit=2", 200, []string{botDone, botNever}, true, 5},
		{"middle page", alpha, "?offset=2&limit=2", 200, []string{botRun, botFail}, true, 5},
		{"last page", alpha, "?offset=4&limit=2", 200, []string{botRepub}, false, 5},
		{"past the end", alpha, "?offset=9&limit=2", 200, []string{}, false, 5},
		{"defaults", tok, "", 200, []string{botGamma}, false, 1},
		{"limit over 50", alpha, "?limit=51", 400, nil, false, 0},
		{"limit zero", alpha, "?limit=0", 400, nil, false, 0},
		{"negative offset", alpha, "?offset=-1", 400, nil, false, 0},
		{"offset not a number", alpha, "?offset=x", 400, nil, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.with(t).do(http.MethodGet, "/api/public/bots"+tt.query, tt.token, nil)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d (%s)", r.status, tt.status, r.body)
			}
			if tt.status != 200 {
				return
			}
			list := decode[botListJSON](t, r.body)
			if list.Total != tt.wantTotal || list.AvailableMore != tt.wantMore || len(list.Bots) != len(tt.wantIDs) {
				t.Fatalf("got total %d more %v %d bots, want %d %v %d", list.Total, list.AvailableMore, len(list.Bots), tt.wantTotal, tt.wantMore, len(tt.wantIDs))
			}
			for i, b := range list.Bots {
				if b.ID != tt.wantIDs[i] || b.Name == "" || len(b.JWTApps) != 1 || b.JWTApps[0].ClientSecret == "" {
					t.Errorf("bot %d = %+v", i, b)
				}
				want := "published"
				if b.ID == botNever {
					want = "configured"
				}
				if b.Status != want {
					t.Errorf("%s status = %s, want %s", b.ID, b.Status, want)
				}
			}
		})
	}
}

func TestBotListServesEachBotsOwnAppSecret(t *testing.T) {
	const botSecret = "bot-only-secret-0123456789"
	h := newHarness(t, WithAccounts(Account{
		Name: "delta", ClientID: "cs-delta", ClientSecret: "delta-secret",
		Bots: []Bot{
			{ID: botDone, Name: "With app", State: StateSuccessful, AppSecret: botSecret},
			{ID: botNever, Name: "Without"},
		},
	}))
	list := decode[botListJSON](t, h.do(http.MethodGet, "/api/public/bots", h.token("cs-delta", "delta-secret"), nil).body)
	if len(list.Bots) != 2 {
		t.Fatalf("got %d bots, want 2", len(list.Bots))
	}
	tests := []struct {
		name        string
		bot         botItemJSON
		wantSecrets []string
	}{
		{"a bot with its own app lists both apps", list.Bots[0], []string{"delta-secret", botSecret}},
		{"a bot without lists the account's app only", list.Bots[1], []string{"delta-secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, app := range tt.bot.JWTApps {
				got = append(got, app.ClientSecret)
			}
			if !slices.Equal(got, tt.wantSecrets) {
				t.Fatalf("jwtApps secrets = %q, want %q", got, tt.wantSecrets)
			}
		})
	}
}
