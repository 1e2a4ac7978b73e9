package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exampleEnv is the environment testdata/example.yaml expects.
func exampleEnv(name string) string {
	return map[string]string{
		"PUBLISHGATE_JWT_SECRET": "hmac-secret-value-0123456789abcdef0123",
		"KORE_PROD_US_SECRET":    "kore-client-secret-value-42",
		"KORE_PROD_DE_JWT":       "eyJhbGciOiJIUzI1NiJ9.kore-token-value.sig",
		"REDIS_PASSWORD":         "redis-password-value-7",
	}[name]
}

// secretValues are the secrets of exampleEnv, which must never be printed.
var secretValues = []string{
	"hmac-secret-value", "kore-client-secret-value", "kore-token-value", "redis-password-value",
}

// mustParse parses yaml with env as the environment and fails the test on
// any error.
func mustParse(tb testing.TB, yaml string, env map[string]string) *Config {
	tb.Helper()
	c, err := Parse([]byte(yaml), func(k string) string { return env[k] })
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return c
}

// mustProblems parses yaml, expecting a *ValidationError, and returns it.
func mustProblems(tb testing.TB, yaml string, env map[string]string) *ValidationError {
	tb.Helper()
	c, err := Parse([]byte(yaml), func(k string) string { return env[k] })
	verr, ok := errors.AsType[*ValidationError](err)
	if !ok {
		tb.Fatalf("Parse: got config %v, error %v; want a *ValidationError", c, err)
	}
	if c != nil {
		tb.Fatalf("Parse returned a config with its error")
	}
	return verr
}

// minimal is the smallest valid configuration.
const minimal = `
allowUnauthenticated: true
environments:
  - name: dev
    host: http://127.0.0.1:9000
    clientId: cs-1
    clientSecret: s
`

func TestLoadExampleParsesEveryKey(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "example.yaml"), exampleEnv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"log.format", c.Log.Format, "json"},
		{"redis.url", c.Redis.URL, "redis://127.0.0.1:6379/0"},
		{"redis.password", c.Redis.Password.Reveal(), "redis-password-value-7"},
		{"cache.inProgressTTL", c.Cache.InProgressTTL.Duration(), 2 * time.Second},
		{"cache.staleFor", c.Cache.StaleFor.Duration(), 10 * time.Minute},
		{"auth.hmacSecret", c.Auth.HMACSecret.Reveal(), "hmac-secret-value-0123456789abcdef0123"},
		{"auth.jwksURL", c.Auth.JWKSURL, "https://idp.example/.well-known/jwks.json"},
		{"auth.audience", c.Auth.Audience, "publishgate"},
		{"auth.publishClaim", c.Auth.PublishClaim, "publish"},
		{"limits.maxBodyBytes", c.Limits.MaxBodyBytes, int64(1048576)},
		{"limits.requestTimeout", c.Limits.RequestTimeout.Duration(), 10 * time.Second},
		{"limits.maxBatch", c.Limits.MaxBatch, 10},
		{"upstream.retries", c.Upstream.Retries, 2},
		{"environments", len(c.Environments), 2},
		{"prod-us.clientId", c.Environments[0].ClientID, "cs-0b5e2a4c-1d2f-5a6b-8c9d-0e1f2a3b4c5d"},
		{"prod-us.clientSecret", c.Environments[0].ClientSecret.Reveal(), "kore-client-secret-value-42"},
		{"prod-us.timeout", c.Environments[0].Timeout.Duration(), 4 * time.Second},
		{"prod-us.bots[0]", c.Environments[0].Bots[0], Bot{ID: "st-1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", Name: "Banking Assistant"}},
		{"prod-de.pathStyle", c.Environments[1].PathStyle, PathVersioned},
		{"prod-de.token", c.Environments[1].Token.Reveal(), "eyJhbGciOiJIUzI1NiJ9.kore-token-value.sig"},
		{"prod-de.timeout from upstream", c.Environments[1].Timeout.Duration(), 5 * time.Second},
		{"prod-de.concurrency", c.Environments[1].Concurrency, 8},
		{"prod-de.ratePerMinute default", c.Environments[1].RatePerMinute, 600},
		{"prod-de.botRatePerMinute written 0", c.Environments[1].BotRatePerMinute, 0},
		{"prod-de.botRatePerHour default", c.Environments[1].BotRatePerHour, 1500},
		{"prod-de.discoverBots", c.Environments[1].DiscoverBots, true},
		{"prod-de.watchInterval", c.Environments[1].WatchInterval.Duration(), time.Minute},
		{"prod-de.bots[0].name", c.Environments[1].Bots[0].Name, "Kundenservice"},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestParseAppliesDefaults(t *testing.T) {
	c := mustParse(t, minimal+"upstream:\n  timeout: 7s\n", nil)
	want := Default()
	if c.Listen != want.Listen || c.Cache != want.Cache || c.Limits != want.Limits || c.Log != want.Log {
		t.Errorf("top-level defaults not applied: %+v", c)
	}
	if c.Auth != nil {
		t.Errorf("Auth = %+v, want nil when the file has none", c.Auth)
	}
	if c.BotIDPattern != DefaultBotIDPattern {
		t.Errorf("BotIDPattern = %q", c.BotIDPattern)
	}
	e := c.Environments[0]
	d := DefaultEnvironment()
	if e.Concurrency != d.Concurrency || e.RatePerMinute != 600 || e.BotRatePerMinute != 50 ||
		e.BotRatePerHour != 1500 || e.PathStyle != PathUnversioned {
		t.Errorf("environment defaults not applied: %+v", e)
	}
	if e.Timeout.Duration() != 7*time.Second {
		t.Errorf("environment timeout = %v, want upstream.timeout 7s", e.Timeout)
	}
}

func TestParseAuthSectionGetsDefaultClaims(t *testing.T) {
	c := mustParse(t, minimal+"auth:\n  hmacSecret: 0123456789abcdef0123456789abcdef\n", nil)
	if c.Auth.EnvironmentsClaim != "environments" || c.Auth.PublishClaim != "publish" {
		t.Errorf("claims = %q, %q; want the defaults", c.Auth.EnvironmentsClaim, c.Auth.PublishClaim)
	}
}

func TestOverride(t *testing.T) {
	tests := []struct {
		name            string
		listen, redis   string
		wantListen      string
		wantURL         string
		wantAddrsKept   bool
		wantMasterAfter string
	}{
		{"empty flags keep the file", "", "", "127.0.0.1:1", "", true, "mymaster"},
		{"listen flag replaces listen", "0.0.0.0:9", "", "0.0.0.0:9", "", true, "mymaster"},
		{"redis flag replaces the cluster", "", "redis://r:6379", "127.0.0.1:1", "redis://r:6379", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.Listen = "127.0.0.1:1"
			c.Redis = Redis{Addrs: []string{"s1:26379"}, MasterName: "mymaster", Password: "pw"}
			c.Override(tc.listen, tc.redis)
			if c.Listen != tc.wantListen || c.Redis.URL != tc.wantURL ||
				(len(c.Redis.Addrs) > 0) != tc.wantAddrsKept || c.Redis.MasterName != tc.wantMasterAfter {
				t.Errorf("after Override: listen %q, redis %+v", c.Listen, c.Redis)
			}
			if c.Redis.Password != "pw" {
				t.Errorf("Override dropped the Redis password")
			}
		})
	}
}

func TestEnvironmentLookup(t *testing.T) {
	c := mustParse(t, minimal, nil)
	if e, ok := c.Environment("dev"); !ok || e != &c.Environments[0] {
		t.Errorf("Environment(dev) = %v, %v; want the first environment", e, ok)
	}
	if e, ok := c.Environment("nope"); ok || e != nil {
		t.Errorf("Environment(nope) = %v, %v; want nil, false", e, ok)
	}
}

func TestCheckReportsOKForValidFile(t *testing.T) {
	var out bytes.Buffer
	if err := Check(filepath.Join("testdata", "example.yaml"), exampleEnv, &out); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if got := out.String(); got != "ok: 2 environments, 3 bots\n" {
		t.Errorf("Check printed %q", got)
	}
}

func TestCheckFailsForMissingFile(t *testing.T) {
	var out bytes.Buffer
	err := Check(filepath.Join(t.TempDir(), "absent.yaml"), nil, &out)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Check error = %v, want one wrapping os.ErrNotExist", err)
	}
	if !strings.Contains(out.String(), "absent.yaml") {
		t.Errorf("Check printed %q, want the error", out.String())
	}
}

func TestParseSyntaxErrorIsPlainWrappedError(t *testing.T) {
	_, err := Parse([]byte("environments: [\n  - name: x\n"), nil)
	if err == nil {
		t.Fatal("Parse accepted malformed YAML")
	}
	if _, ok := errors.AsType[*ValidationError](err); ok {
		t.Errorf("syntax error came as a *ValidationError: %v", err)
	}
	if errors.Unwrap(err) == nil {
		t.Errorf("syntax error %v wraps nothing", err)
	}
}

func TestLogHandlerFollowsConfig(t *testing.T) {
	var buf bytes.Buffer
	h := Log{Format: "json", Level: "warn"}.NewHandler(&buf)
	if h.Enabled(t.Context(), -4) || !h.Enabled(t.Context(), 4) {
		t.Errorf("handler levels do not follow warn")
	}
}
