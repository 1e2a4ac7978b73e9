package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/publishgate/publishgate/auth"
)

func TestTokenMintsWhatTheGatewayVerifies(t *testing.T) {
	const secret = "token-test-secret-0123456789abcdef0123456789"
	cfgPath := filepath.Join(t.TempDir(), "publishgate.yaml")
	yaml := "auth:\n  hmacSecret: ${PUBLISHGATE_JWT_SECRET}\n  issuer: https://gw.test/\n  audience: dashboards\n  environmentsClaim: envs\n  publishClaim: canPublish\n" +
		"environments:\n  - {name: dev, host: \"https://bots.kore.ai\", clientId: cs-1, clientSecret: x, bots: []}\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(context.Background(), auth.Config{HMACSecret: []byte(secret), Issuer: "https://gw.test/", Audience: "dashboards", EnvironmentsClaim: "envs", PublishClaim: "canPublish"})
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return map[string]string{"PUBLISHGATE_JWT_SECRET": secret}[k] }
	cases := []struct {
		name    string
		args    []string
		sees    []string
		hidden  []string
		publish bool
	}{
		{name: "default: every environment, no publish", args: nil, sees: []string{"dev", "prod"}},
		{name: "listed environments", args: []string{"--environments", "dev, qa"}, sees: []string{"dev", "qa"}, hidden: []string{"prod"}},
		{name: "publish", args: []string{"--environments", "dev", "--publish", "--ttl", "5m"}, sees: []string{"dev"}, hidden: []string{"prod"}, publish: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := run(context.Background(), append([]string{"token", "--config", cfgPath}, tc.args...), getenv, &out, &errOut); err != nil {
				t.Fatalf("token: %v %s", err, errOut.String())
			}
			c, err := v.Verify(context.Background(), strings.TrimSpace(out.String()))
			if err != nil {
				t.Fatalf("the gateway refuses the minted token: %v", err)
			}
			for _, e := range tc.sees {
				if !c.MaySee(e) {
					t.Errorf("cannot see %s", e)
				}
			}
			for _, e := range tc.hidden {
				if c.MaySee(e) {
					t.Errorf("sees %s", e)
				}
			}
			if c.Publish != tc.publish {
				t.Errorf("publish = %v", c.Publish)
			}
		})
	}

	t.Run("refused without a secret, or with a short one", func(t *testing.T) {
		for _, env := range []map[string]string{{}, {"PUBLISHGATE_JWT_SECRET": "short"}} {
			err := run(context.Background(), []string{"token"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil {
				t.Errorf("minted with env %v", env)
			} else if s := env["PUBLISHGATE_JWT_SECRET"]; s != "" && strings.Contains(err.Error(), s) {
				t.Errorf("the error quotes the secret: %v", err)
			}
		}
	})
}
