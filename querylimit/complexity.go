package querylimit

import (
	"github.com/publishgate/publishgate/graph"
	"github.com/publishgate/publishgate/graph/model"
	"github.com/publishgate/publishgate/upstream"
)

// Shape is what the complexity of a query depends on: how many environments
// there are and how many bots the largest one has.
type Shape struct {
	Environments int
	MaxBots      int
	TotalBots    int
}

// resourcesPerJob estimates the entries of a job's statusSummary (Kore.ai
// lists one per resource: settings, channels, languages, NL, each dialog).
const resourcesPerJob = 10

// refreshCost is the extra price of publishStatus(refresh: true): it skips
// the cache and costs an upstream request every time.
const refreshCost = 5

// Complexity prices the schema's fields for gqlgen's complexity limit. A
// field costs 1 plus what it selects; a list costs its length times what
// each element selects: bots(refs) len(refs), environments the number of
// environments, Environment.bots the largest environment's bots. Fields
// that count bots (summaries) cost one per bot they load. The result is an
// upper bound of the work a query asks for, known before it runs.
//
// shape is asked once per query priced, so that bots discovered since the
// start count.
func Complexity(shape func() Shape) graph.ComplexityRoot {
	var c graph.ComplexityRoot
	c.Query.Bots = func(child int, refs []*model.BotRef) int { return 1 + len(refs)*child }
	c.Query.Environments = func(child int) int { return 1 + shape().Environments*child }
	c.Subscription.PublishStatusChanged = func(child int, refs []*model.BotRef) int { return 1 + len(refs)*child }
	c.Query.Summary = func(child int, envs []string) int {
		s := shape()
		if envs == nil {
			return 1 + s.TotalBots + child
		}
		return 1 + min(len(envs)*s.MaxBots, s.TotalBots) + child
	}
	c.Environment.Bots = func(child int, states []upstream.State) int {
		most := shape().MaxBots
		cost := 1 + most*child
		if len(states) > 0 {
			// Filtering loads every bot's job first.
			cost += most
		}
		return cost
	}
	c.Environment.Summary = func(child int) int { return 1 + shape().MaxBots + child }
	c.Bot.PublishStatus = func(child int, refresh *bool) int {
		if refresh != nil && *refresh {
			return 1 + refreshCost + child
		}
		return 1 + child
	}
	c.PublishJob.StatusSummary = func(child int) int { return 1 + resourcesPerJob*child }
	return c
}
