package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSecurityDefaultsAndDecoding(t *testing.T) {
	c, err := Parse([]byte(`
environments:
  - {name: dev, host: "https://bots.kore.ai", clientId: cs-1, clientSecret: s, bots: []}
security: {persistedQueriesOnly: true, persistedQueries: ops.json, introspection: false}
cors: {allowedOrigins: ["https://dash.example.com", "http://127.0.0.1:3000"]}
limits: {maxTokens: 500, parseTimeout: 250ms}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Security.PersistedQueriesOnly || c.Security.PersistedQueries != "ops.json" || c.Security.Introspection {
		t.Errorf("security = %+v", c.Security)
	}
	if !c.Security.Playground || c.Security.APQTTL.Duration() != 24*time.Hour {
		t.Errorf("absent security keys did not keep their defaults: %+v", c.Security)
	}
	if len(c.CORS.AllowedOrigins) != 2 || c.Limits.MaxTokens != 500 || c.Limits.ParseTimeout.Duration() != 250*time.Millisecond {
		t.Errorf("cors = %+v, limits = %+v", c.CORS, c.Limits)
	}
}

func TestValidateSecurity(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(c *Config)
		wantKey string
	}{
		{name: "persisted only without a list of documents", mutate: func(c *Config) { c.Security.PersistedQueriesOnly = true }, wantKey: "security.persistedQueries"},
		{name: "zero APQ lifetime", mutate: func(c *Config) { c.Security.APQTTL = 0 }, wantKey: "security.apqTTL"},
		{name: "wildcard origin", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"*"} }, wantKey: "cors.allowedOrigins[0]"},
		{name: "origin with a path", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://ok.example", "https://a.example/app"} }, wantKey: "cors.allowedOrigins[1]"},
		{name: "no token limit", mutate: func(c *Config) { c.Limits.MaxTokens = 0 }, wantKey: "limits.maxTokens"},
		{name: "no parse budget", mutate: func(c *Config) { c.Limits.ParseTimeout = 0 }, wantKey: "limits.parseTimeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(c)
			verr, ok := errors.AsType[*ValidationError](c.Validate())
			if !ok {
				t.Fatalf("Validate() accepted it")
			}
			var keys []string
			for _, p := range verr.Problems {
				keys = append(keys, p.Key)
			}
			if len(keys) != 1 || keys[0] != tc.wantKey {
				t.Errorf("problems at %s, want only %s", strings.Join(keys, ", "), tc.wantKey)
			}
		})
	}
	c := validConfig()
	c.CORS.AllowedOrigins = []string{"https://dash.example.com", "http://localhost:5173"}
	c.Security.PersistedQueriesOnly, c.Security.PersistedQueries = true, "ops.json"
	if err := c.Validate(); err != nil {
		t.Errorf("a valid security section was refused: %v", err)
	}
}
