package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestSecretsNeverPrinted(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "example.yaml"), exampleEnv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	c.Redis.URL = "redis://user:url-password-value@127.0.0.1:6379/0"
	secrets := append(secretValues, "url-password-value")

	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("config", "config", c, "secret", c.Environments[0].ClientSecret, "redis", c.Redis)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("config", "config", c, "auth", c.Auth, "redis", c.Redis)
	jsonBytes, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}

	outputs := []struct {
		name string
		text string
	}{
		{"Redacted", c.Redacted()},
		{"%v", fmt.Sprintf("%v", c)},
		{"%+v", fmt.Sprintf("%+v", *c)},
		{"%#v", fmt.Sprintf("%#v", *c)},
		{"%v of an environment", fmt.Sprintf("%v", c.Environments)},
		{"%+v of auth", fmt.Sprintf("%+v", *c.Auth)},
		{"%s of a secret", fmt.Sprintf("%s %q %x", c.Auth.HMACSecret, c.Auth.HMACSecret, c.Auth.HMACSecret)},
		{"slog text", text.String()},
		{"slog JSON", js.String()},
		{"json.Marshal", string(jsonBytes)},
	}
	for _, out := range outputs {
		t.Run(out.name, func(t *testing.T) {
			for _, s := range secrets {
				if strings.Contains(out.text, s) {
					t.Errorf("%s shows secret %q:\n%s", out.name, s, out.text)
				}
			}
			if out.name != "%v" && !strings.Contains(out.text, "[redacted]") && !strings.Contains(out.text, "xxxxx") {
				t.Errorf("%s shows no redaction marker:\n%s", out.name, out.text)
			}
		})
	}
}

func TestSecretsNeverInProblems(t *testing.T) {
	env := map[string]string{"SECRET": "top-secret-value", "SHORT": "short-secret-val"}
	verr := mustProblems(t, `
redis:
  url: ftp://user:redis-url-secret@host
auth:
  hmacSecret: ${SHORT}
  jwksURL: "https://u:jwks-secret@idp.example/keys"
environments:
  - name: dev
    host: https://user:host-secret@bots.kore.ai
    clientSecret: ${SECRET}
    concurrency: ${SECRET}
    timeout: ${SECRET}
    bots:
      - id: ${SECRET}
`, func() map[string]string { return env }())
	msg := verr.Error()
	for _, s := range []string{"top-secret-value", "short-secret-val", "redis-url-secret", "jwks-secret", "host-secret"} {
		if strings.Contains(msg, s) {
			t.Errorf("Error() shows %q:\n%s", s, msg)
		}
	}
	for _, key := range []string{"redis.url", "auth.hmacSecret", "auth.jwksURL", "environments[0].host",
		"environments[0].concurrency", "environments[0].timeout", "environments[0].bots[0].id"} {
		if !strings.Contains(msg, key+": ") {
			t.Errorf("Error() has no problem at %s:\n%s", key, msg)
		}
	}
}

func TestSecretShowsEmptyWhenUnset(t *testing.T) {
	var s Secret
	if s.String() != "" || fmt.Sprint(s) != "" || s.LogValue().String() != "" {
		t.Errorf("an empty secret prints as %q", s.String())
	}
	if got := Secret("x").String(); got != "[redacted]" {
		t.Errorf("Secret.String() = %q", got)
	}
	if got := Secret("x").Reveal(); got != "x" {
		t.Errorf("Secret.Reveal() = %q", got)
	}
}

func TestDurationRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
		out  string
	}{
		{"seconds stay seconds", "30s", 30 * time.Second, "30s"},
		{"minutes lose the zero seconds", "2m", 2 * time.Minute, "2m"},
		{"hours and minutes stay compact", "1h30m", 90 * time.Minute, "1h30m"},
		{"whole hours stay compact", "1h", time.Hour, "1h"},
		{"sub-second keeps its unit", "250ms", 250 * time.Millisecond, "250ms"},
		{"zero is 0s", "0s", 0, "0s"},
		{"bare zero is accepted", "0", 0, "0s"},
		{"mixed units normalise", "90s", 90 * time.Second, "1m30s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Duration
			if err := yaml.Unmarshal([]byte(tc.in), &d); err != nil {
				t.Fatalf("yaml.Unmarshal(%q): %v", tc.in, err)
			}
			if d.Duration() != tc.want {
				t.Errorf("decoded %v, want %v", d.Duration(), tc.want)
			}
			out, err := yaml.Marshal(d)
			if err != nil {
				t.Fatalf("yaml.Marshal: %v", err)
			}
			if strings.TrimSpace(string(out)) != tc.out {
				t.Errorf("marshalled %q, want %q", out, tc.out)
			}
			var back Duration
			if err := yaml.Unmarshal(out, &back); err != nil || back != d {
				t.Errorf("round trip gave %v, %v; want %v", back, err, d)
			}
			js, _ := json.Marshal(d)
			var fromJSON Duration
			if err := json.Unmarshal(js, &fromJSON); err != nil || fromJSON != d || string(js) != `"`+tc.out+`"` {
				t.Errorf("JSON round trip gave %s -> %v, %v", js, fromJSON, err)
			}
		})
	}
}

func TestDurationRejectsAmbiguousNumbers(t *testing.T) {
	for _, in := range []string{"30", "soon", "[1s]"} {
		var d Duration
		if err := yaml.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("yaml.Unmarshal(%q) accepted %v", in, d)
		}
	}
}

func TestRedactedIsValidYAMLOfTheEffectiveConfig(t *testing.T) {
	c := mustParse(t, minimal+"redis:\n  url: redis://:pw-value@r:6379/0\n", nil)
	out := c.Redacted()
	var back map[string]any
	if err := yaml.Unmarshal([]byte(out), &back); err != nil {
		t.Fatalf("Redacted is not YAML: %v\n%s", err, out)
	}
	for _, want := range []string{"ttl: 30s", "staleFor: 10m", "maxBodyBytes: 1048576", "concurrency: 32",
		"clientSecret: '[redacted]'", "pathStyle: unversioned", "url: redis://:xxxxx@r:6379/0"} {
		if !strings.Contains(out, want) {
			t.Errorf("Redacted lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pw-value") {
		t.Errorf("Redacted shows the Redis password:\n%s", out)
	}
}
