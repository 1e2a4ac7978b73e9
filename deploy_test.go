package main

import (
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/publishgate/publishgate/config"
)

// These tests hold the deployment files to what docs/operations.md says of
// them; `docker compose config` validates the compose file itself where a
// Docker client is present (scripts/test.sh).

func TestDockerfileBuildsASmallStaticNonRootImage(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	cases := []struct {
		name string
		ok   bool
	}{
		{"multi-stage: a build stage and a runtime stage", len(froms) >= 2},
		{"the build stage uses the Go version of go.mod", strings.Contains(froms[0][1], "golang:"+goVersion(t))},
		{"static binary (no cgo)", strings.Contains(df, "CGO_ENABLED=0")},
		{"small runtime: distroless static", strings.HasPrefix(froms[len(froms)-1][1], "gcr.io/distroless/static")},
		{"non-root user", regexp.MustCompile(`(?m)^USER\s+nonroot`).MatchString(df)},
		{"the binary is the entrypoint", strings.Contains(df, `ENTRYPOINT ["/usr/local/bin/publishgate"]`)},
	}
	for _, tc := range cases {
		if !tc.ok {
			t.Errorf("Dockerfile: %s", tc.name)
		}
	}
}

func goVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go\s+(\S+)`).FindStringSubmatch(string(raw))
	return m[1]
}

type composeService struct {
	Image       string
	Build       any
	Command     []string
	Environment map[string]string
	Volumes     []string
	DependsOn   any `yaml:"depends_on"`
}

func TestComposeRunsTwoReplicasOnOneRedisBehindALoadBalancer(t *testing.T) {
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]composeService
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	s := compose.Services
	for _, name := range []string{"redis", "simulator", "gateway-1", "gateway-2", "lb"} {
		if _, ok := s[name]; !ok {
			t.Fatalf("no %s service", name)
		}
	}
	if !strings.HasPrefix(s["redis"].Image, "redis:") || !strings.HasPrefix(s["lb"].Image, "nginx:") {
		t.Errorf("redis image %q, lb image %q", s["redis"].Image, s["lb"].Image)
	}
	sim := s["simulator"]
	if !slices.Contains(sim.Command, "simulate") || !slices.Contains(sim.Command, "--config") ||
		!slices.Contains(sim.Command, "--rate-per-minute") || !slices.Contains(sim.Command, "60") {
		t.Errorf("simulator command %v: want simulate --config with Kore's 60/min limit", sim.Command)
	}
	for _, name := range []string{"gateway-1", "gateway-2"} {
		g := s[name]
		if g.Image != "publishgate:local" || g.Environment["PUBLISHGATE_REDIS_URL"] != "redis://redis:6379/0" ||
			g.Environment["PUBLISHGATE_ADDR"] != "0.0.0.0:8080" || !slices.Contains(g.Volumes, "./deploy/publishgate.yaml:/etc/publishgate/publishgate.yaml:ro") {
			t.Errorf("%s: %+v", name, g)
		}
	}

	nginx, err := os.ReadFile("deploy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server gateway-1:8080", "server gateway-2:8080", "listen 8080", "X-Request-ID"} {
		if !strings.Contains(string(nginx), want) {
			t.Errorf("deploy/nginx.conf lacks %q", want)
		}
	}
}

func TestComposeConfigurationIsValid(t *testing.T) {
	env := map[string]string{
		"KORE_PROD_US_SECRET": "s1-0123456789abcdef0123456789",
		"KORE_PROD_EU_SECRET": "s2-0123456789abcdef0123456789",
		"KORE_DEV_SECRET":     "s3-0123456789abcdef0123456789",
	}
	cfg, err := config.Load("deploy/publishgate.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("deploy/publishgate.yaml: %v", err)
	}
	cfg.Override("", "redis://redis:6379/0") // what PUBLISHGATE_REDIS_URL does in compose
	if err := cfg.Validate(); err != nil {
		t.Fatalf("with Redis: %v", err)
	}
	if cfg.Log.Format != "json" || cfg.Tracing.OTLPEndpoint != "" || len(cfg.Environments) < 3 {
		t.Fatalf("log %s, tracing %q, %d environments", cfg.Log.Format, cfg.Tracing.OTLPEndpoint, len(cfg.Environments))
	}
	for _, e := range cfg.Environments {
		if e.Host != "http://simulator:9090" || len(e.Bots) == 0 {
			t.Errorf("environment %s: host %s, %d bots", e.Name, e.Host, len(e.Bots))
		}
	}
	// The simulator serves the same file's apps.
	if accts := accountsFromConfig(cfg, slog.New(slog.DiscardHandler)); len(accts) != len(cfg.Environments) {
		t.Fatalf("the simulator would serve %d of %d environments", len(accts), len(cfg.Environments))
	}
}
