package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/upstream/simulator"
)

// demo is the built-in Kore.ai stand-in of `go run .`: one simulator with
// the demo data set, each account on its own loopback port so that every
// environment has its own host, as in real life.
type demo struct {
	cfg     *config.Config
	servers []*simulator.Server
}

// startDemo starts the simulator and returns the configuration of a gateway
// in front of it.
func startDemo(logger *slog.Logger) (*demo, error) {
	accounts := simulator.DemoAccounts()
	sim := simulator.New(
		simulator.WithAccounts(accounts...),
		simulator.WithRateLimits(60, 1800), // Kore.ai's per-bot limits (SPEC §1.1)
		simulator.WithLogger(logger.With("component", "simulator")),
	)
	d := &demo{cfg: config.Default()}
	for _, a := range accounts {
		srv, err := simulator.Listen("127.0.0.1:0", sim)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("demo: %w", err)
		}
		d.servers = append(d.servers, srv)
		env := config.DefaultEnvironment()
		env.Name = a.Name
		env.Host = srv.URL
		env.ClientID = a.ClientID
		env.ClientSecret = config.Secret(a.ClientSecret)
		env.Timeout = d.cfg.Upstream.Timeout
		for _, b := range a.Bots {
			env.Bots = append(env.Bots, config.Bot{ID: b.ID, Name: b.Name})
		}
		d.cfg.Environments = append(d.cfg.Environments, env)
	}
	return d, nil
}

// Close stops the simulator's listeners.
func (d *demo) Close() error {
	var errs []error
	for _, s := range d.servers {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
