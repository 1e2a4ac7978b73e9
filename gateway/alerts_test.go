package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// alertsFile is the rules file the deployment ships.
const alertsFile = "../deploy/prometheus/alerts.yml"

// alertBots is an environment with a publish stuck in progress for an
// hour, a publish about to be driven to FAILED, and a finished one; a
// second, calm environment must page nobody.
func alertAccounts() (prod, calm simulator.Account) {
	prod = testkit.Account("prod", 1)
	prod.Bots = append(prod.Bots,
		simulator.Bot{ID: testkit.BotID("prod-stuck"), Name: "Stuck", State: simulator.StateInProgress, Percentage: 10, PublishDuration: 10 * time.Hour},
		simulator.Bot{ID: testkit.BotID("prod-failing"), Name: "Failing", State: simulator.StateInProgress, Percentage: 5, PublishDuration: 100 * time.Second},
	)
	return prod, testkit.Account("calm", 2)
}

// manualClock is the gateway's clock, moved by the test.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *manualClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestAlertMetricsFollowAPublishToFailed(t *testing.T) {
	const dashboard = `{ environments { name bots { id publishStatus { status } } } }`
	failing := testkit.BotID("prod-failing")
	tests := []struct {
		name string
		// observe makes the gateway read the failing bot again after the
		// simulator ended its publish.
		observe func(t *testing.T, gw *testkit.Gateway, clock *manualClock)
	}{
		{name: "a refresh sees it at once", observe: func(t *testing.T, gw *testkit.Gateway, _ *manualClock) {
			resp := testkit.Query(t, gw.URL, `query($refs: [BotRef!]!) { bots(refs: $refs) { publishStatus(refresh: true) { status } } }`,
				map[string]any{"refs": []map[string]string{{"environment": "prod", "botId": failing}}})
			if !strings.Contains(string(resp.Data), `"FAILED"`) || len(resp.Errors) > 0 {
				t.Fatalf("refresh: %s %+v", resp.Data, resp.Errors)
			}
		}},
		{name: "the next poll past the in-progress lifetime sees it", observe: func(t *testing.T, gw *testkit.Gateway, clock *manualClock) {
			// Past twice cache.inProgressTTL the entry is fetched before
			// answering (not revalidated in the background).
			clock.Advance(5 * time.Second)
			if resp := testkit.Query(t, gw.URL, dashboard, nil); !strings.Contains(string(resp.Data), `"FAILED"`) {
				t.Fatalf("poll after the interval: %s %+v", resp.Data, resp.Errors)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prod, calm := alertAccounts()
			sim := testkit.MustSimulator(t, simulator.WithAccounts(prod, calm))
			clock := &manualClock{t: time.Now()}
			gw := testkit.MustGateway(t, testkit.Config(t, sim.URL, prod, calm), gateway.Options{Now: clock.Now})
			if resp := testkit.Query(t, gw.URL, dashboard, nil); len(resp.Errors) > 0 {
				t.Fatalf("first dashboard: %+v", resp.Errors)
			}
			before := scrape(t, gw.URL)
			if err := sim.Simulator.FinishPublish(failing, true); err != nil {
				t.Fatal(err)
			}
			tt.observe(t, gw, clock)
			after := scrape(t, gw.URL)

			for _, c := range []struct {
				series        string
				before, after float64
			}{
				{`publishgate_publish_transitions_total{environment="prod",to="FAILED"}`, 0, 1},
				{`publishgate_publish_transitions_total{environment="prod",to="SUCCESSFUL"}`, 0, 0},
				{`publishgate_bots{environment="prod",state="FAILED"}`, 0, 1},
				{`publishgate_bots{environment="prod",state="INPROGRESS"}`, 2, 1},
				{`publishgate_bots{environment="prod",state="SUCCESSFUL"}`, 1, 1},
				{`publishgate_bots{environment="calm",state="SUCCESSFUL"}`, 2, 2},
				{`publishgate_environment_up{environment="prod"}`, 1, 1},
				{`publishgate_publish_transitions_total{environment="calm",to="FAILED"}`, 0, 0},
			} {
				if before[c.series] != c.before || after[c.series] != c.after {
					t.Errorf("%s: %v then %v, want %v then %v", c.series, before[c.series], after[c.series], c.before, c.after)
				}
			}
			if age := after[`publishgate_oldest_inprogress_publish_age_seconds{environment="prod"}`]; age < 3000 {
				t.Errorf("oldest publish in progress in prod: %vs, want about an hour", age)
			}
			if t.Failed() {
				return
			}
			runPromtool(t, before, after, map[string][]string{
				"KorePublishFailed":          {"prod"},
				"KorePublishStuck":           {"prod"},
				"KoreEnvironmentUnreachable": nil,
				"KoreBudgetExhausted":        nil,
			})
		})
	}
}

// runPromtool writes a promtool unit test whose input series are the two
// scrapes (before for five minutes, then after), expecting each alert to
// fire at 10m for exactly the environments given, and runs it against the
// shipped rules.
func runPromtool(t *testing.T, before, after map[string]float64, want map[string][]string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is missing: install Debian's prometheus package (apt-get install prometheus); scripts/test.sh does")
	}
	rules, err := filepath.Abs(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	annotations := alertAnnotations(t, rules)

	var b strings.Builder
	fmt.Fprintf(&b, "rule_files: [%q]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n", rules)
	names := make([]string, 0, len(after))
	for s := range after {
		name, _, _ := strings.Cut(s, "{")
		histogram := strings.HasSuffix(name, "_bucket") || strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count")
		if strings.HasPrefix(name, "publishgate_") && !histogram {
			names = append(names, s)
		}
	}
	slices.Sort(names)
	for _, s := range names {
		first, ok := before[s]
		if !ok {
			first = after[s]
		}
		fmt.Fprintf(&b, "      - series: %q\n        values: '%v+0x4 %v+0x15'\n", s, first, after[s])
	}
	b.WriteString("    alert_rule_test:\n")
	for _, alert := range slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "      - eval_time: 10m\n        alertname: %s\n        exp_alerts:", alert)
		if len(want[alert]) == 0 {
			b.WriteString(" []\n")
			continue
		}
		b.WriteString("\n")
		for _, env := range want[alert] {
			a := annotations[alert]
			fmt.Fprintf(&b, "          - exp_labels: {environment: %q, severity: %q}\n            exp_annotations:\n", env, a.severity)
			for _, k := range slices.Sorted(func(yield func(string) bool) {
				for k := range a.templates {
					if !yield(k) {
						return
					}
				}
			}) {
				fmt.Fprintf(&b, "              %s: %q\n", k, render(t, a.templates[k], env))
			}
		}
	}
	file := filepath.Join(t.TempDir(), "scraped_test.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool, "test", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules on the scraped series: %v\n%s\n--- %s\n%s", err, out, file, b.String())
	}
}

// alertRule is what the generated test needs of one rule of alerts.yml.
type alertRule struct {
	severity  string
	templates map[string]string
}

// alertAnnotations reads each alert's severity and annotation templates.
func alertAnnotations(t *testing.T, file string) map[string]alertRule {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	out := map[string]alertRule{}
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = alertRule{severity: r.Labels["severity"], templates: r.Annotations}
		}
	}
	return out
}

// render expands an annotation template as Prometheus does for an alert
// of environment env (the rules' annotations use $labels only).
func render(t *testing.T, text, env string) string {
	t.Helper()
	tmpl, err := template.New("a").Option("missingkey=zero").Parse("{{$labels := .Labels}}{{$value := .Value}}" + text)
	if err != nil {
		t.Fatalf("annotation %q: %v", text, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, map[string]any{"Labels": map[string]string{"environment": env}, "Value": 0.0}); err != nil {
		t.Fatalf("annotation %q: %v", text, err)
	}
	return b.String()
}
