package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/config"
)

// envSpec is one gateway environment of a topology: one simulated Kore.ai
// host (its own process on its own 127.0.0.x address) and its bots.
type envSpec struct {
	Name, ClientID, Secret string
	Host                   string // the simulator's base URL, once started
	Bots                   []string
}

// botRef is one bot of a topology, as a GraphQL BotRef.
type botRef struct {
	Env, ID string
}

// topology is one (bots, hosts) combination with its processes: a simulator
// per host, the gateway replicas and the REST floor.
type topology struct {
	h        *harness
	nBots    int
	envs     []envSpec
	refs     []botRef
	sims     []*proc
	gateways []*proc
	gwConfig string // configuration file of the running replicas
	// running is what the replicas run: which binary, on which
	// configuration (zero when none runs).
	running gatewaySetup
	rest    *proc
	// floorItems are every bot's job as the harness's cache package
	// stores it, read from the simulators once (floors.go).
	floorItems []cache.Item
	// mixed are the mixed workload's query bodies, drawn once.
	mixed [][]byte
}

// gatewayConfig is what a configuration of the replicas varies.
type gatewayConfig struct {
	// ttl is every cache lifetime.
	ttl time.Duration
	// budgets sets the upstream budgets at their production defaults
	// (config.DefaultEnvironment) instead of off.
	budgets bool
}

// gatewaySetup is a binary on a configuration.
type gatewaySetup struct {
	bin string // binary name
	cfg gatewayConfig
}

// botID is the deterministic ID of the i-th benchmark bot.
func botID(i int) string {
	return "st-" + uuid.NewSHA1(uuid.NameSpaceURL, []byte(fmt.Sprintf("publishgate-bench:%d", i))).String()
}

// newTopology lays nBots out round-robin over nHosts environments.
func newTopology(h *harness, nBots, nHosts int) *topology {
	nHosts = max(1, min(nHosts, nBots))
	t := &topology{h: h, nBots: nBots}
	for i := range nHosts {
		name := fmt.Sprintf("h%02d", i)
		t.envs = append(t.envs, envSpec{Name: name, ClientID: "cs-bench-" + name, Secret: "bench-secret-" + name + "-0123456789abcdef"})
	}
	for i := range nBots {
		e := &t.envs[i%nHosts]
		id := botID(i)
		e.Bots = append(e.Bots, id)
		t.refs = append(t.refs, botRef{Env: e.Name, ID: id})
	}
	return t
}

// concurrency is the per-environment upstream concurrency: every bot of a
// host at once, as the plain-client floor does (bounded by the config's 1,024).
func (t *topology) concurrency() int { return min(1024, max(1, len(t.envs[0].Bots))) }

// writeConfig writes a gateway configuration for envs with every cache
// lifetime set to cfg.ttl, the upstream budgets off or (cfg.budgets) at
// their defaults, retries off and logs at warn (no access line per
// request). The simulators' own limits are always off: the benchmark
// measures the gateway, not Kore's quotas.
func (t *topology) writeConfig(name string, envs []envSpec, cfg gatewayConfig) (string, error) {
	ttl := cfg.ttl
	budgets := "    ratePerMinute: 0\n    botRatePerMinute: 0\n    botRatePerHour: 0\n"
	if cfg.budgets {
		d := config.DefaultEnvironment()
		budgets = fmt.Sprintf("    ratePerMinute: %d\n    botRatePerMinute: %d\n    botRatePerHour: %d\n", d.RatePerMinute, d.BotRatePerMinute, d.BotRatePerHour)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:0\nlog:\n  level: warn\ncache:\n  ttl: %s\n  inProgressTTL: %s\n  notFoundTTL: %s\n  staleFor: 10m\n", ttl, ttl, ttl)
	b.WriteString("limits:\n  maxComplexity: 10000000\n  maxBotsPerRequest: 2000\n  maxBodyBytes: 4194304\n  requestTimeout: 30s\n")
	b.WriteString("upstream:\n  timeout: 10s\n  retries: 0\nenvironments:\n")
	for _, e := range envs {
		host := e.Host
		if host == "" {
			host = "http://127.0.0.1:9" // a simulator's own file: the host is not used
		}
		fmt.Fprintf(&b, "  - name: %s\n    host: %s\n    clientId: %s\n    clientSecret: %s\n    concurrency: %d\n    maxQueued: 100000\n",
			e.Name, host, e.ClientID, e.Secret, t.concurrency())
		b.WriteString(budgets + "    bots:\n")
		for i, id := range e.Bots {
			fmt.Fprintf(&b, "      - { id: %s, name: bench bot %d }\n", id, i)
		}
	}
	path := filepath.Join(t.h.dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return path, nil
}

// startSimulators starts one simulator process per host, each on its own
// loopback address (127.0.0.2, .3, ...), each serving its environment only.
func (t *topology) startSimulators(ctx context.Context) error {
	for i := range t.envs {
		e := &t.envs[i]
		path, err := t.writeConfig("sim-"+e.Name+".yaml", []envSpec{*e}, gatewayConfig{ttl: time.Hour})
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.%d:0", 2+i)
		args := []string{"--addr", addr, "--config", path, "--latency", t.h.opts.latency.String()}
		p, err := t.h.startChild(ctx, t.h.bins[0], "sim-"+e.Name, roleSimulate, args, "--rate-per-minute", "0", "--rate-per-hour", "0")
		if err != nil {
			return err
		}
		t.sims = append(t.sims, p)
		e.Host = p.URL
		if err := awaitOK(ctx, t.h.http, p.URL+"/_simulator/stats"); err != nil {
			return err
		}
	}
	return nil
}

// use makes sure the replicas run binary b on configuration cfg: when they
// do already it does nothing and returns false; otherwise it empties Redis
// (no fill lock, budget window or entry of another binary or configuration
// is left) and (re)starts them, returning true.
func (t *topology) use(ctx context.Context, b binary, cfg gatewayConfig) (bool, error) {
	if len(t.gateways) > 0 && t.running == (gatewaySetup{b.name, cfg}) {
		return false, nil
	}
	return true, t.restart(ctx, b, cfg)
}

// restart empties Redis and (re)starts the replicas from binary b on a
// configuration cfg, all on the same Redis (through the counting proxy).
func (t *topology) restart(ctx context.Context, b binary, cfg gatewayConfig) error {
	t.stopGateways()
	if err := t.h.flushRedis(ctx); err != nil {
		return err
	}
	path, err := t.writeConfig(fmt.Sprintf("gateway-%s-budgets-%t.yaml", cfg.ttl, cfg.budgets), t.envs, cfg)
	if err != nil {
		return err
	}
	t.gwConfig = path
	for i := range t.h.opts.replicas {
		p, err := t.startGateway(ctx, b, i)
		if err != nil {
			return err
		}
		t.gateways = append(t.gateways, p)
	}
	t.running = gatewaySetup{b.name, cfg}
	return nil
}

func (t *topology) startGateway(ctx context.Context, b binary, i int) (*proc, error) {
	args := []string{"--config", t.gwConfig, "--addr", "127.0.0.1:0", "--redis", t.h.gwProxy.URL()}
	debug, debugURL, err := t.h.debugArgs(b, i)
	if err != nil {
		return nil, err
	}
	p, err := t.h.startChild(ctx, b, fmt.Sprintf("gateway-%s-%d", b.name, i+1), roleGateway, args, debug...)
	if err != nil {
		return nil, err
	}
	p.debugURL = debugURL
	if err := awaitOK(ctx, t.h.http, p.URL+"/readyz"); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// restartGateway replaces replica i by a fresh process of binary b (an
// empty local copy).
func (t *topology) restartGateway(ctx context.Context, b binary, i int) error {
	t.gateways[i].stop()
	p, err := t.startGateway(ctx, b, i)
	if err != nil {
		return err
	}
	t.gateways[i] = p
	return nil
}

func (t *topology) stopGateways() {
	for _, g := range t.gateways {
		g.stop()
	}
	t.gateways = nil
	t.running = gatewaySetup{}
}

// startREST starts the REST floor on the same Redis (through its own proxy).
func (t *topology) startREST(ctx context.Context) error {
	args := []string{"--addr", "127.0.0.1:0", "--redis", t.h.restProxy.URL(), "--ttl", "1h"}
	p, err := t.h.startRole(ctx, "rest", t.h.self, roleREST, args)
	if err != nil {
		return err
	}
	t.rest = p
	return awaitOK(ctx, t.h.http, p.URL+"/readyz")
}

// stop stops every process of the topology.
func (t *topology) stop() {
	t.stopGateways()
	t.rest.stop()
	for _, s := range t.sims {
		s.stop()
	}
}
