package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// roleEnv names the environment variable that makes the harness binary act
// as one of its child processes instead of running the benchmark. The REST
// floor is always one; with --self (the package test, which must not build
// the publishgate binary) the gateway and the simulators are too.
const roleEnv = "PUBLISHGATE_BENCH_ROLE"

// Roles.
const (
	roleREST     = "rest"
	roleGateway  = "gateway"
	roleSimulate = "simulate"
)

// runRole runs the child role named by roleEnv until ctx ends.
func runRole(ctx context.Context, role string, args []string, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch role {
	case roleREST:
		return runRESTRole(ctx, args, stdout, log)
	case roleGateway:
		return runGatewayRole(ctx, args, stdout, log)
	case roleSimulate:
		return runSimulateRole(ctx, args, stdout, log)
	}
	return fmt.Errorf("unknown %s %q", roleEnv, role)
}

// runGatewayRole is `publishgate serve --config F --addr A --redis R` built
// from the same packages, for --self runs: gateway.New behind a plain
// http.Server, printing the same listen line.
func runGatewayRole(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file")
	addr := fs.String("addr", "", "listen address")
	redisURL := fs.String("redis", "", "Redis URL")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	cfg, err := config.Load(*path, os.Getenv)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	cfg.Override(*addr, *redisURL)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	gw, err := gateway.New(ctx, cfg, gateway.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer gw.Close()
	return serveRole(ctx, cfg.Listen, gw.Handler(), "publishgate serving", stdout)
}

// runSimulateRole is `publishgate simulate --addr A --config F --latency L`
// with the rate limits off, for --self runs.
func runSimulateRole(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	latency := fs.Duration("latency", 0, "latency of every answer")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	cfg, err := config.Load(*path, os.Getenv)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	var accounts []simulator.Account
	for _, e := range cfg.Environments {
		a := simulator.Account{Name: e.Name, ClientID: e.ClientID, ClientSecret: e.ClientSecret.Reveal()}
		for _, b := range e.Bots {
			a.Bots = append(a.Bots, simulator.PlausibleBot(b.ID, b.Name))
		}
		accounts = append(accounts, a)
	}
	sim := simulator.New(simulator.WithAccounts(accounts...), simulator.WithFault(simulator.Fault{Latency: *latency}),
		simulator.WithRateLimits(0, 0), simulator.WithLogger(log))
	srv, err := simulator.Listen(*addr, sim)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	fmt.Fprintf(stdout, "Kore.ai simulator at %s (stats: %s/_simulator/stats)\n", srv.URL, srv.URL)
	<-ctx.Done()
	return srv.Close()
}
