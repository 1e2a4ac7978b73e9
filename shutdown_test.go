package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// TestSIGTERMFinishesTheSlowQueryAndExitsZero runs the real binary: the
// signal path (signal.NotifyContext in main) is part of what is proven.
func TestSIGTERMFinishesTheSlowQueryAndExitsZero(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "publishgate")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	acct := testkit.Account("staging", 1)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	const slow = 2 * time.Second
	if err := sim.Simulator.SetAccountFault(acct.ClientID, simulator.Fault{Latency: slow}); err != nil {
		t.Fatal(err)
	}
	cfgPath := cfgPathFor(t, filepath.Join(t.TempDir(), "publishgate.yaml"), acct, sim.URL)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config", cfgPath, "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "STAGING_SECRET="+acct.ClientSecret)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	base := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "Playground: "); ok {
			base = strings.TrimSuffix(u, "/playground")
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if base == "" {
		t.Fatalf("no Playground URL printed; log:\n%s", logs)
	}
	u, _ := url.Parse(base)

	// A query whose upstream answers slowly.
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		body, _ := json.Marshal(map[string]string{"query": `{ environments { bots { publishStatus { status } } } }`})
		resp, err := http.Post(base+"/graphql", "application/json", bytes.NewReader(body))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(raw)}
	}()
	testkit.Eventually(t, 10*time.Second, "the slow query never became in flight", func() bool {
		return strings.Contains(get(t, base+"/metrics"), "\npublishgate_in_flight_requests 1\n")
	})

	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the server never said it was shutting down", func() bool {
		return strings.Contains(logs.String(), "shutting down")
	})
	// New connections are refused while the query is still being served.
	testkit.Eventually(t, 5*time.Second, "new connections were still accepted after SIGTERM", func() bool {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			c.Close()
			return false
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	})
	select {
	case <-done:
		t.Fatal("the query finished before new connections were refused: the latency is too short to prove anything")
	default:
	}

	r := <-done
	if r.err != nil || r.status != http.StatusOK || !strings.Contains(r.body, `"status":"SUCCESSFUL"`) || strings.Contains(r.body, `"errors"`) {
		t.Fatalf("the in-flight query: HTTP %d %s (%v)", r.status, r.body, r.err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v (want status 0); log:\n%s", err, logs)
	}
	if took := time.Since(sent); took > slow+5*time.Second {
		t.Fatalf("shutdown took %v", took)
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Fatalf("no clean stop in the log:\n%s", logs)
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}
