package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a server's
// logger and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRun runs the program in-process with args and returns the base URL it
// prints, its log, and a stop function that returns run's error.
func startRun(t *testing.T, args []string, env map[string]string) (base string, logs *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, func(k string) string { return env[k] }, pw, logs)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "Playground: "); ok {
			base = strings.TrimSuffix(u, "/playground")
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if base == "" {
		cancel()
		t.Fatalf("the server printed no Playground URL; run returned %v; log:\n%s", <-done, logs)
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return base, logs, stop
}

const demoQuery = `{ environments { name bots { id name publishStatus { status percentageComplete statusSummary { resourceType status } freshness { fetchedAt } } } } }`

type demoData struct {
	Environments []struct {
		Name string
		Bots []struct {
			ID            string
			Name          string
			PublishStatus *struct {
				Status             string
				PercentageComplete int
				StatusSummary      []struct{ ResourceType, Status string }
			}
		}
	}
}

func TestDemoServesMixedStatesAndProgress(t *testing.T) {
	base, logs, stop := startRun(t, []string{"--addr", "127.0.0.1:0"}, nil)

	resp := testkit.Query(t, base, demoQuery, nil)
	var data demoData
	resp.Decode(t, &data)
	bots, states := 0, map[string]int{}
	var publishing string
	for _, e := range data.Environments {
		bots += len(e.Bots)
		for _, b := range e.Bots {
			if b.PublishStatus == nil {
				states["null"]++
				continue
			}
			states[b.PublishStatus.Status]++
			if b.Name == simulator.DemoPublishingBot {
				publishing = b.ID
			}
		}
	}
	if len(data.Environments) < 3 || bots < 30 {
		t.Fatalf("%d environments, %d bots; want ≥3 and ≥30", len(data.Environments), bots)
	}
	for _, s := range []string{"SUCCESSFUL", "FAILED", "INPROGRESS", "null"} {
		if states[s] == 0 {
			t.Fatalf("no bot in state %s: %v", s, states)
		}
	}
	if len(resp.Errors) != 1 || resp.Errors[0].Code() != "UPSTREAM_UNAVAILABLE" || len(resp.Errors[0].Path) != 5 {
		t.Fatalf("want exactly the failing demo bot as an error with a path, got %+v", resp.Errors)
	}
	if publishing == "" {
		t.Fatalf("demo bot %q missing", simulator.DemoPublishingBot)
	}

	// The publishing bot advances with wall-clock time; ask until it has.
	q := `query($id: ID!) { publishStatus(environment: "prod-us", botId: $id) { status percentageComplete } }`
	pct := func() int {
		var d struct {
			PublishStatus struct{ PercentageComplete int }
		}
		testkit.Query(t, base, q, map[string]any{"id": publishing}).Decode(t, &d)
		return d.PublishStatus.PercentageComplete
	}
	first := pct()
	testkit.Eventually(t, 15*time.Second, "the publishing bot's percentage never rose", func() bool {
		p := pct()
		return p > first || p < first // rose, or finished and started again
	})

	if err := stop(); err != nil {
		t.Fatalf("run returned %v after a clean shutdown", err)
	}
	if !strings.Contains(logs.String(), "NO CALLER AUTHENTICATION") {
		t.Fatal("the demo did not warn that auth is off")
	}
}

func TestServeWithConfigAgainstSimulateCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "publishgate.yaml")
	acct := testkit.Account("staging", 3)
	simBase, _, _ := startSimulate(t, cfgPathFor(t, cfgPath, acct, "http://127.0.0.1:1"))
	// Point the gateway at the simulator that serves the same file's credentials.
	cfgPathFor(t, cfgPath, acct, simBase)
	base, _, stop := startRun(t, []string{"--config", cfgPath, "--addr", "127.0.0.1:0"}, map[string]string{"STAGING_SECRET": acct.ClientSecret})
	resp := testkit.Query(t, base, `{ environments { name bots { publishStatus { id } } } }`, nil)
	if len(resp.Errors) > 0 || !strings.Contains(string(resp.Data), `"name":"staging"`) {
		t.Fatalf("data %s errors %+v", resp.Data, resp.Errors)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// cfgPathFor writes a configuration for acct at host and returns its path.
func cfgPathFor(t *testing.T, path string, acct simulator.Account, host string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("environments:\n  - name: " + acct.Name + "\n    host: " + host + "\n    clientId: " + acct.ClientID + "\n    clientSecret: ${STAGING_SECRET}\n    bots:\n")
	for _, bot := range acct.Bots {
		b.WriteString("      - { id: " + bot.ID + ", name: " + bot.Name + " }\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func startSimulate(t *testing.T, cfgPath string) (string, *syncBuffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	secret := testkit.Account("staging", 0).ClientSecret
	go func() {
		err := run(ctx, []string{"simulate", "--addr", "127.0.0.1:0", "--config", cfgPath},
			func(k string) string { return map[string]string{"STAGING_SECRET": secret}[k] }, pw, logs)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	i := strings.Index(line, " at http://")
	if err != nil || i < 0 {
		cancel()
		t.Fatalf("simulate printed %q (%v); run: %v; log %s", line, err, <-done, logs)
	}
	url := strings.Fields(line[i+4:])[0]
	stop := func() error { cancel(); return <-done }
	t.Cleanup(func() { _ = stop() })
	return url, logs, stop
}

func TestCheckListsEveryProblem(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"check", "--config", "config/testdata/three-mistakes.yaml"}, func(string) string { return "" }, &out, &errOut)
	if err == nil {
		t.Fatal("check passed a file with three mistakes")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 problems, got:\n%s", out.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, ": ") {
			t.Fatalf("problem %q names no key", l)
		}
	}
	if exitCode(err) == 0 {
		t.Fatal("exit code 0")
	}
}

func TestCheckAcceptsTheExample(t *testing.T) {
	var out bytes.Buffer
	env := map[string]string{}
	for _, k := range []string{"KORE_PROD_US_SECRET", "KORE_PROD_DE_JWT", "PUBLISHGATE_JWT_SECRET", "REDIS_PASSWORD"} {
		env[k] = "x-0123456789abcdef0123456789abcdef"
	}
	err := run(context.Background(), []string{"check", "--config", "config/testdata/example.yaml"}, func(k string) string { return env[k] }, &out, io.Discard)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out.String())
	}
	if !strings.HasPrefix(out.String(), "ok: ") {
		t.Fatalf("output %q", out.String())
	}
}
