// Package graph is the GraphQL layer: the schema (schema.graphqls, the source
// of truth), thin resolvers, the error presenter and model conversion. It
// does no I/O of its own: lookups go through the loader.
package graph

//go:generate go tool gqlgen generate
//go:generate go run ../internal/genpatch generated.go

import (
	"log/slog"
	"time"

	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/live"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/publish"
	"github.com/publishgate/publishgate/upstream"
)

// Resolver is the root resolver; its fields are its dependencies, filled by
// the caller (server.go).
type Resolver struct {
	// Catalog lists the environments and their bots.
	Catalog *catalog.Catalog
	// Jobs answers publish-status lookups through per-request dataloaders.
	Jobs *loader.Source
	// BotIDs decides which bot IDs are plausible.
	BotIDs upstream.BotIDValidator
	// MaxBotsPerRequest bounds the refs of one bots query (0 = no bound).
	MaxBotsPerRequest int
	// Logger receives resolver-level warnings.
	Logger *slog.Logger
	// Now is the clock used for freshness ages (default time.Now).
	Now func() time.Time
	// Live serves the publishStatusChanged subscriptions.
	Live *live.Hub
	// Publisher starts publishes (publishBot).
	Publisher *publish.Publisher
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
