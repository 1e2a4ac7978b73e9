// Package catalog knows which environments the gateway serves and which bots
// each of them has, in configuration order.
package catalog

import (
	"errors"
	"fmt"
)

// ErrUnknownEnvironment means no environment of that name is configured.
var ErrUnknownEnvironment = errors.New("unknown environment")

// Bot is one bot of an environment.
type Bot struct {
	// ID is the Kore.ai bot (stream) ID, "st-" + UUID.
	ID string
	// Name is the configured display name; empty when the bot is not
	// configured but was named by a caller.
	Name string
	// Environment is the name of the environment the bot belongs to.
	Environment string
}

// Environment is one Kore.ai host and account.
type Environment struct {
	Name string
	Host string
	Bots []Bot

	byID map[string]int
}

// Catalog is the immutable set of environments. Safe for concurrent use.
type Catalog struct {
	envs   []*Environment
	byName map[string]*Environment
}

// New builds a catalog; names must be unique (configuration validation
// guarantees it).
func New(envs []Environment) (*Catalog, error) {
	c := &Catalog{byName: make(map[string]*Environment, len(envs))}
	for i := range envs {
		e := envs[i]
		if _, dup := c.byName[e.Name]; dup {
			return nil, fmt.Errorf("catalog: duplicate environment %q", e.Name)
		}
		e.Bots = append([]Bot(nil), e.Bots...)
		e.byID = make(map[string]int, len(e.Bots))
		for j := range e.Bots {
			e.Bots[j].Environment = e.Name
			e.byID[e.Bots[j].ID] = j
		}
		c.envs = append(c.envs, &e)
		c.byName[e.Name] = &e
	}
	return c, nil
}

// Environments returns every environment in configuration order. The slice
// is shared: do not modify it.
func (c *Catalog) Environments() []*Environment { return c.envs }

// Lookup returns the environment named name, or an error wrapping
// ErrUnknownEnvironment.
func (c *Catalog) Lookup(name string) (*Environment, error) {
	if e, ok := c.byName[name]; ok {
		return e, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownEnvironment, name)
}

// Bot returns the configured bot with that ID, or a Bot with no name when the
// environment does not list it (Kore.ai may still know it).
func (e *Environment) Bot(id string) Bot {
	if i, ok := e.byID[id]; ok {
		return e.Bots[i]
	}
	return Bot{ID: id, Environment: e.Name}
}
