package graph

import (
	"context"
	"fmt"
	"slices"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/publishgate/publishgate/auth"
	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/graph/model"
	"github.com/publishgate/publishgate/upstream"
)

// botsByRef resolves Query.bots: one entry per ref, in order; a bad ref is
// null at its index with an error at that path.
func (r *Resolver) botsByRef(ctx context.Context, refs []*model.BotRef) ([]*catalog.Bot, error) {
	if r.MaxBotsPerRequest > 0 && len(refs) > r.MaxBotsPerRequest {
		return nil, fmt.Errorf("%w: %d refs, at most %d bots per request", ErrBadInput, len(refs), r.MaxBotsPerRequest)
	}
	out := make([]*catalog.Bot, len(refs))
	for i, ref := range refs {
		env, err := r.ref(ctx, ref.Environment, ref.BotID)
		if err != nil {
			addErrorAt(ctx, err, ast.PathIndex(i))
			continue
		}
		b := env.Bot(ref.BotID)
		out[i] = &b
	}
	r.primeIfRequested(ctx, out)
	return out, nil
}

// environmentBots resolves Environment.bots, filtered by state when asked.
// The bots are the known ones: configured, then discovered (one snapshot).
func (r *Resolver) environmentBots(ctx context.Context, env *catalog.Environment, states []upstream.State) []*catalog.Bot {
	known := env.Known()
	bots := make([]*catalog.Bot, 0, len(known))
	if len(states) == 0 {
		for i := range known {
			bots = append(bots, &known[i])
		}
		r.primeIfRequested(ctx, bots)
		return bots
	}
	for i, o := range r.loadAll(ctx, known) {
		if o.Err == nil && o.Result.Job != nil && slices.Contains(states, o.Result.Job.Status) {
			bots = append(bots, &known[i])
		}
	}
	r.primeIfRequested(ctx, bots) // publishStatus(refresh: true) loads other keys
	return bots
}

// environment returns the environment named name if the caller may see it.
// Authorization is asked first, so that to a restricted caller an unknown
// name answers exactly like a forbidden one (FORBIDDEN, nothing looked up).
// Every way of naming an environment goes through here (ref included).
func (r *Resolver) environment(ctx context.Context, name string) (*catalog.Environment, error) {
	if err := auth.Authorize(ctx, name); err != nil {
		return nil, err
	}
	return r.Catalog.Lookup(name)
}

// environments returns the environments the caller may see, in
// configuration order.
func (r *Resolver) environments(ctx context.Context) []*catalog.Environment {
	return auth.Visible(ctx, r.Catalog.Environments(), func(e *catalog.Environment) string { return e.Name })
}

// summary resolves Query.summary. Unknown names are reported as errors at the
// field and left out; the known ones are still counted.
func (r *Resolver) summary(ctx context.Context, names []string) *model.PublishSummary {
	envs := r.environments(ctx)
	if names != nil {
		envs = envs[:0:0]
		seen := map[string]bool{}
		for _, n := range names {
			env, err := r.environment(ctx, n)
			if err != nil {
				addErrorAt(ctx, err)
				continue
			}
			if !seen[n] {
				seen[n] = true
				envs = append(envs, env)
			}
		}
	}
	var bots []catalog.Bot
	for _, e := range envs {
		bots = append(bots, e.Known()...)
	}
	return r.summarise(ctx, bots)
}
