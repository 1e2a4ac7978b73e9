package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// TestNoSecretOrTokenInAnyOutput runs a broad scenario — the demo, `check
// --print`, `token`, a gateway with auth at debug level refusing callers,
// forbidding environments and meeting upstream failures — captures every
// byte logged or printed and every answer, and looks for each configured
// secret and each token in it.
func TestNoSecretOrTokenInAnyOutput(t *testing.T) {
	dev, prod := testkit.Account("dev", 3), testkit.Account("prod", 2)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(dev, prod))
	if err := sim.Simulator.SetFaults(simulator.FaultSet{Bots: map[string]simulator.Fault{dev.Bots[2].ID: {ErrorRate: 1, ErrorStatus: 503}}}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"PUBLISHGATE_JWT_SECRET": "caller-hmac-secret-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c1e",
		"DEV_SECRET":             dev.ClientSecret,
		"PROD_SECRET":            "wrong-prod-secret-2b4d6f8a0c1e3b5d7f9a1c3e", // Kore.ai refuses it: UPSTREAM_UNAUTHORIZED
	}
	secrets := []string{env["PUBLISHGATE_JWT_SECRET"], env["DEV_SECRET"], env["PROD_SECRET"], prod.ClientSecret}
	for _, a := range simulator.DemoAccounts() {
		secrets = append(secrets, a.ClientSecret)
	}
	getenv := func(k string) string { return env[k] }

	var cfg strings.Builder
	cfg.WriteString("log: {level: debug}\nauth:\n  hmacSecret: ${PUBLISHGATE_JWT_SECRET}\n  issuer: https://publishgate.test/\n  audience: publishgate\nenvironments:\n")
	for _, a := range []simulator.Account{dev, prod} {
		cfg.WriteString("  - name: " + a.Name + "\n    host: " + sim.URL + "\n    clientId: " + a.ClientID + "\n    clientSecret: ${" + strings.ToUpper(a.Name) + "_SECRET}\n    bots:\n")
		for _, b := range a.Bots {
			cfg.WriteString("      - { id: " + b.ID + " }\n")
		}
	}
	cfgPath := filepath.Join(t.TempDir(), "publishgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	var everything bytes.Buffer // all that was logged, printed or answered

	// The demo starts, answers, stops.
	demoBase, demoLogs, stopDemo := startRun(t, []string{"--addr", "127.0.0.1:0"}, nil)
	testkit.Query(t, demoBase, `{ environments { bots { publishStatus { status } } } }`, nil)
	_ = stopDemo()
	everything.WriteString(demoLogs.String())

	// check --print.
	var checkOut, checkErr bytes.Buffer
	if err := run(context.Background(), []string{"check", "--config", cfgPath, "--print"}, getenv, &checkOut, &checkErr); err != nil {
		t.Fatalf("check: %v\n%s%s", err, checkOut.String(), checkErr.String())
	}
	everything.Write(checkOut.Bytes())
	everything.Write(checkErr.Bytes())

	// token mints callers' tokens.
	mint := func(args ...string) string {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append([]string{"token", "--config", cfgPath}, args...), getenv, &out, &errOut); err != nil {
			t.Fatalf("token %v: %v\n%s", args, err, errOut.String())
		}
		everything.Write(errOut.Bytes())
		return strings.TrimSpace(out.String())
	}
	devToken, allToken := mint("--environments", "dev", "--ttl", "10m"), mint("--environments", "*", "--publish")
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "late", "environments": []string{"*"}, "iss": "https://publishgate.test/", "aud": "publishgate",
		"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix(),
	}).SignedString([]byte(env["PUBLISHGATE_JWT_SECRET"]))
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "forger", "environments": []string{"*"}, "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte("not-the-secret-0123456789abcdef0123456789"))
	tokens := []string{devToken, allToken, expired, forged}

	// The gateway with auth, at debug level.
	base, logs, stop := startRun(t, []string{"--config", cfgPath, "--addr", "127.0.0.1:0"}, env)
	ask := func(token, query string) {
		body, _ := json.Marshal(map[string]string{"query": query})
		req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		everything.WriteString(resp.Header.Get("WWW-Authenticate"))
		everything.Write(raw)
	}
	all := `{ environments { name bots { id publishStatus(refresh: true) { status } } } }`
	ask("", all)
	ask("garbage", all)
	ask(forged, all)
	ask(expired, all)
	ask(devToken, all)
	ask(devToken, `{ environment(name: "prod") { name } }`)
	ask(allToken, all) // prod: Kore.ai refuses the gateway's credentials; dev: one bot answers 503
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	served := logs.String()
	everything.WriteString(served)

	for _, want := range []string{"caller refused", "UPSTREAM_UNAUTHORIZED", "UPSTREAM_UNAVAILABLE", "FORBIDDEN", "caller authentication on"} {
		if !strings.Contains(everything.String(), want) {
			t.Errorf("the scenario did not produce %q; it is not as broad as it claims", want)
		}
	}
	out := everything.String()
	for _, s := range append(secrets, tokens...) {
		if s == "" {
			t.Fatal("an empty secret or token")
		}
		if strings.Contains(out, s) {
			t.Errorf("a secret or token (%.6s…) appears in the output", s)
		}
	}
	// No JWT of any kind (a caller's, or one the gateway minted for Kore.ai)
	// may be logged: they all start with a base64url JSON header.
	for _, l := range strings.Split(served+demoLogs.String(), "\n") {
		if strings.Contains(l, "eyJ") {
			t.Errorf("a log line holds what looks like a JWT: %.120s", l)
		}
	}
}
