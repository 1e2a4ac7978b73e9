package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// runSimulate runs the Kore.ai simulator alone (SPEC §3, §5).
func runSimulate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", "simulate [flags]", "Run the Kore.ai simulator alone.")
	addr := fs.String("addr", "127.0.0.1:9090", "listen address HOST:PORT")
	cfgPath := fs.String("config", "", "serve the bots and app credentials of this gateway configuration (default: the demo data set)")
	perMinute := fs.Int("rate-per-minute", 60, "rolling per-bot limit a minute (Kore.ai: 60); 0 = off")
	perHour := fs.Int("rate-per-hour", 1800, "rolling per-bot limit an hour (Kore.ai: 1800); 0 = off")
	latency := fs.Duration("latency", 0, "latency added to every answer")
	jitter := fs.Duration("jitter", 0, "random extra latency, uniform in [0, jitter)")
	seed := fs.Int64("seed", 1, "seed of the jitter and error-rate randomness")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	accounts := simulator.DemoAccounts()
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath, getenv)
		if err != nil {
			return err
		}
		accounts = accountsFromConfig(cfg, logger)
	}
	sim := simulator.New(
		simulator.WithAccounts(accounts...),
		simulator.WithRateLimits(*perMinute, *perHour),
		simulator.WithFault(simulator.Fault{Latency: *latency, Jitter: *jitter}),
		simulator.WithSeed(*seed),
		simulator.WithLogger(logger),
	)
	srv, err := simulator.Listen(*addr, sim)
	if err != nil {
		return err
	}
	bots := 0
	for _, a := range accounts {
		bots += len(a.Bots)
	}
	fmt.Fprintf(stdout, "Kore.ai simulator: %d accounts, %d bots at %s (stats: %s/_simulator/stats)\n", len(accounts), bots, srv.URL, srv.URL)
	<-ctx.Done()
	return srv.Close()
}

// accountsFromConfig turns a gateway configuration into simulator accounts:
// each environment's app credentials and bots, each bot with a reproducible
// history picked from its ID (simulator.PlausibleBot).
func accountsFromConfig(cfg *config.Config, logger *slog.Logger) []simulator.Account {
	var out []simulator.Account
	for _, e := range cfg.Environments {
		if e.ClientID == "" || e.ClientSecret.Reveal() == "" {
			logger.Warn("environment uses a static token: the simulator cannot verify it; skipped", "environment", e.Name)
			continue
		}
		a := simulator.Account{Name: e.Name, ClientID: e.ClientID, ClientSecret: e.ClientSecret.Reveal(), EnforceJTI: e.JTI}
		for _, b := range e.Bots {
			a.Bots = append(a.Bots, simulator.PlausibleBot(b.ID, b.Name))
		}
		out = append(out, a)
	}
	return out
}
