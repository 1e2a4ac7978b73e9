package config

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckListsAllThreeMistakes(t *testing.T) {
	path := filepath.Join("testdata", "three-mistakes.yaml")
	wantKeys := []string{"environments[0].host", "environments[1].name", "environments[1].bots[1].id"}

	_, err := Load(path, nil)
	verr, ok := errors.AsType[*ValidationError](err)
	if !ok {
		t.Fatalf("Load error = %v, want a *ValidationError", err)
	}
	var keys []string
	for _, p := range verr.Problems {
		keys = append(keys, p.Key)
		if p.Line == 0 {
			t.Errorf("problem %v has no line", p)
		}
	}
	if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
		t.Errorf("problem keys = %v, want %v", keys, wantKeys)
	}

	var out bytes.Buffer
	if err := Check(path, nil, &out); err == nil {
		t.Error("Check returned nil for a file with problems")
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(wantKeys) {
		t.Fatalf("Check printed %d lines, want %d:\n%s", len(lines), len(wantKeys), out.String())
	}
	for i, key := range wantKeys {
		if !strings.HasPrefix(lines[i], key+": ") {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], key+": ")
		}
	}
	if strings.Contains(out.String(), "not-really-a-secret") {
		t.Errorf("Check printed a secret:\n%s", out.String())
	}
}

// validConfig returns a valid configuration to break one thing of.
func validConfig() *Config {
	c := Default()
	c.Auth = &Auth{HMACSecret: "0123456789abcdef0123456789abcdef", EnvironmentsClaim: "environments", PublishClaim: "publish"}
	e := DefaultEnvironment()
	e.Name, e.Host, e.ClientID, e.ClientSecret = "prod", "https://bots.kore.ai", "cs-1", "secret"
	e.Bots = []Bot{{ID: "st-1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}}
	c.Environments = []Environment{e}
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantKey string // "" when valid
	}{
		{"valid configuration passes", func(c *Config) {}, ""},
		{"root host with slash passes", func(c *Config) { c.Environments[0].Host = "https://bots.kore.ai/" }, ""},
		{"token instead of client credentials passes", func(c *Config) {
			c.Environments[0].ClientID, c.Environments[0].ClientSecret, c.Environments[0].Token = "", "", "jwt"
		}, ""},
		{"no auth on loopback passes", func(c *Config) { c.Auth = nil }, ""},
		{"no auth on a network address with allowUnauthenticated passes", func(c *Config) {
			c.Auth, c.Listen, c.AllowUnauthenticated = nil, "0.0.0.0:8080", true
		}, ""},
		{"http JWKS on loopback passes", func(c *Config) { c.Auth.JWKSURL = "http://127.0.0.1:5556/keys" }, ""},
		{"unix Redis URL passes", func(c *Config) { c.Redis.URL = "unix:///run/redis.sock" }, ""},
		{"Sentinel addresses pass", func(c *Config) { c.Redis = Redis{Addrs: []string{"s1:26379"}, MasterName: "m"} }, ""},
		{"zero rates pass", func(c *Config) { c.Environments[0].RatePerMinute, c.Environments[0].BotRatePerHour = 0, 0 }, ""},
		{"no auth on a network address fails", func(c *Config) { c.Auth, c.Listen = nil, "0.0.0.0:8080" }, "auth"},
		{"auth without keys fails", func(c *Config) { c.Auth.HMACSecret = "" }, "auth"},
		{"short HMAC secret fails", func(c *Config) { c.Auth.HMACSecret = "short" }, "auth.hmacSecret"},
		{"http JWKS on a remote host fails", func(c *Config) { c.Auth.JWKSURL = "http://idp.example/keys" }, "auth.jwksURL"},
		{"empty environments claim fails", func(c *Config) { c.Auth.EnvironmentsClaim = "" }, "auth.environmentsClaim"},
		{"no environments fails", func(c *Config) { c.Environments = nil }, "environments"},
		{"empty name fails", func(c *Config) { c.Environments[0].Name = "" }, "environments[0].name"},
		{"upper-case name fails", func(c *Config) { c.Environments[0].Name = "Prod" }, "environments[0].name"},
		{"host without scheme fails", func(c *Config) { c.Environments[0].Host = "bots.kore.ai" }, "environments[0].host"},
		{"ftp host fails", func(c *Config) { c.Environments[0].Host = "ftp://bots.kore.ai" }, "environments[0].host"},
		{"host with path fails", func(c *Config) { c.Environments[0].Host = "https://bots.kore.ai/api" }, "environments[0].host"},
		{"host with query fails", func(c *Config) { c.Environments[0].Host = "https://bots.kore.ai?x=1" }, "environments[0].host"},
		{"host with fragment fails", func(c *Config) { c.Environments[0].Host = "https://bots.kore.ai#x" }, "environments[0].host"},
		{"host with credentials fails", func(c *Config) { c.Environments[0].Host = "https://u:p@bots.kore.ai" }, "environments[0].host"},
		{"no credentials fails", func(c *Config) { c.Environments[0].ClientSecret = "" }, "environments[0].clientSecret"},
		{"no client ID fails", func(c *Config) { c.Environments[0].ClientID = "" }, "environments[0].clientId"},
		{"token and secret together fail", func(c *Config) { c.Environments[0].Token = "jwt" }, "environments[0].token"},
		{"jti with a fixed token fails", func(c *Config) {
			c.Environments[0].ClientSecret, c.Environments[0].Token, c.Environments[0].JTI = "", "jwt", true
		}, "environments[0].jti"},
		{"unknown path style fails", func(c *Config) { c.Environments[0].PathStyle = "v2" }, "environments[0].pathStyle"},
		{"zero concurrency fails", func(c *Config) { c.Environments[0].Concurrency = 0 }, "environments[0].concurrency"},
		{"huge concurrency fails", func(c *Config) { c.Environments[0].Concurrency = 5000 }, "environments[0].concurrency"},
		{"negative rate fails", func(c *Config) { c.Environments[0].BotRatePerMinute = -1 }, "environments[0].botRatePerMinute"},
		{"zero timeout fails", func(c *Config) { c.Environments[0].Timeout = 0 }, "environments[0].timeout"},
		{"negative watch interval fails", func(c *Config) { c.Environments[0].WatchInterval = -1 }, "environments[0].watchInterval"},
		{"bad bot ID fails", func(c *Config) { c.Environments[0].Bots[0].ID = "st-123" }, "environments[0].bots[0].id"},
		{"duplicate bot ID fails", func(c *Config) {
			c.Environments[0].Bots = append(c.Environments[0].Bots, c.Environments[0].Bots[0])
		}, "environments[0].bots[1].id"},
		{"bad bot ID pattern fails", func(c *Config) { c.BotIDPattern = "st-(" }, "botIDPattern"},
		{"zero TTL fails", func(c *Config) { c.Cache.TTL = 0 }, "cache.ttl"},
		{"negative staleFor fails", func(c *Config) { c.Cache.StaleFor = -1 }, "cache.staleFor"},
		{"zero limit fails", func(c *Config) { c.Limits.MaxAliases = 0 }, "limits.maxAliases"},
		{"zero request timeout fails", func(c *Config) { c.Limits.RequestTimeout = 0 }, "limits.requestTimeout"},
		{"negative retries fail", func(c *Config) { c.Upstream.Retries = -1 }, "upstream.retries"},
		{"Redis URL and addrs together fail", func(c *Config) {
			c.Redis = Redis{URL: "redis://r:6379", Addrs: []string{"r:6379"}}
		}, "redis.addrs"},
		{"http Redis URL fails", func(c *Config) { c.Redis.URL = "http://r:6379" }, "redis.url"},
		{"Redis address without port fails", func(c *Config) { c.Redis.Addrs = []string{"r"} }, "redis.addrs[0]"},
		{"master name without Sentinels fails", func(c *Config) { c.Redis.MasterName = "m" }, "redis.masterName"},
		{"bad log format fails", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
		{"bad log level fails", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"bad listen address fails", func(c *Config) { c.Listen = "8080" }, "listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(c)
			err := c.Validate()
			if tc.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			verr, ok := errors.AsType[*ValidationError](err)
			if !ok {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			if len(verr.Problems) != 1 || verr.Problems[0].Key != tc.wantKey {
				t.Errorf("problems = %v, want one at %s", verr.Problems, tc.wantKey)
			}
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	c := validConfig()
	c.Cache.TTL = 0
	c.Limits.MaxDepth = 0
	c.Environments[0].Host = "nope"
	c.Environments = append(c.Environments, c.Environments[0])
	verr, ok := errors.AsType[*ValidationError](c.Validate())
	if !ok {
		t.Fatal("Validate found nothing")
	}
	want := "cache.ttl: must be greater than 0\n" +
		"limits.maxDepth: must be greater than 0\n" +
		"environments[0].host: must be an absolute URL such as https://bots.kore.ai\n" +
		"environments[1].name: duplicates environments[0].name\n" +
		"environments[1].host: must be an absolute URL such as https://bots.kore.ai"
	if verr.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", verr.Error(), want)
	}
}

func TestValidatePlacesProblemsAtNearestLine(t *testing.T) {
	verr := mustProblems(t, `
allowUnauthenticated: true
environments:
  - name: dev
    host: http://127.0.0.1:9000
`, nil)
	want := "environments[0].clientId: is required (or set token) (line 4)\n" +
		"environments[0].clientSecret: is required (or set token) (line 4)"
	if verr.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", verr.Error(), want)
	}
}
