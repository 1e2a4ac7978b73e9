// Package catalog knows which environments the gateway serves and which bots
// each of them has, in configuration order. An environment's bots are the
// configured ones plus, when the environment discovers its bots, the ones
// Kore.ai lists: the discovered part is a snapshot swapped atomically by
// its refresher (SetDiscovered) and read without locks (Known).
package catalog

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrUnknownEnvironment means no environment of that name is configured. It
// is the one sentinel for the concept: the loader and the publisher wrap it
// too when a key or a request names an environment they have no client for.
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
	// Name identifies the environment.
	Name string
	// Host is the Kore.ai host.
	Host string
	// Bots are the configured bots, in configuration order. Discovered bots
	// are not here: Known lists both.
	Bots []Bot

	byID  map[string]int
	known *atomic.Pointer[snapshot] // nil until New
}

// snapshot is an environment's known bots at one time: the configured ones,
// then the discovered ones that are not configured.
type snapshot struct {
	bots []Bot
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
		e.known = &atomic.Pointer[snapshot]{}
		e.known.Store(&snapshot{bots: e.Bots, byID: e.byID})
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

// Bot returns the known bot with that ID (configured or discovered), or a
// Bot with no name when the environment does not list it (Kore.ai may still
// know it).
func (e *Environment) Bot(id string) Bot {
	if e.known != nil {
		if s := e.known.Load(); s != nil {
			if i, ok := s.byID[id]; ok {
				return s.bots[i]
			}
			return Bot{ID: id, Environment: e.Name}
		}
	}
	if i, ok := e.byID[id]; ok {
		return e.Bots[i]
	}
	return Bot{ID: id, Environment: e.Name}
}

// Known returns every bot known in the environment: the configured ones in
// configuration order, then the discovered ones that are not configured, in
// the order they were discovered. Each ID appears once. The slice is shared:
// do not modify it. Without discovery it is Bots.
func (e *Environment) Known() []Bot {
	if e.known == nil {
		return e.Bots
	}
	return e.known.Load().bots
}

// SetDiscovered replaces the discovered bots of the environment (the whole
// list, not an addition). A configured bot keeps its place and its
// configured name (Kore.ai's name only fills a configured bot that has
// none); a discovered one listed twice is kept once, first place and name.
// Safe to call while other goroutines read.
func (e *Environment) SetDiscovered(bots []Bot) {
	if e.known == nil {
		return // not from New: nothing reads a snapshot
	}
	s := &snapshot{
		bots: make([]Bot, len(e.Bots), len(e.Bots)+len(bots)),
		byID: make(map[string]int, len(e.Bots)+len(bots)),
	}
	copy(s.bots, e.Bots)
	for id, i := range e.byID {
		s.byID[id] = i
	}
	for _, b := range bots {
		if i, dup := s.byID[b.ID]; dup {
			if i < len(e.Bots) && s.bots[i].Name == "" {
				s.bots[i].Name = b.Name
			}
			continue
		}
		b.Environment = e.Name
		s.byID[b.ID] = len(s.bots)
		s.bots = append(s.bots, b)
	}
	e.known.Store(s)
}
