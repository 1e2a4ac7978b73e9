package graph

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/graph/model"
	"github.com/publishgate/publishgate/internal/clip"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/upstream"
)

// ref checks an (environment, bot) reference before anything is loaded:
// the caller may see the environment (auth.Authorize, through environment),
// it exists, and the bot ID is plausible.
func (r *Resolver) ref(ctx context.Context, envName, botID string) (*catalog.Environment, error) {
	env, err := r.environment(ctx, envName)
	if err != nil {
		return nil, &BotError{Environment: envName, BotID: botID, Err: err}
	}
	if !r.BotIDs.Valid(botID) {
		return nil, &BotError{Environment: envName, BotID: botID, Err: fmt.Errorf("%w: %q is not a Kore.ai bot ID (st- followed by a UUID)", ErrBadInput, clip.String(botID, 80))}
	}
	return env, nil
}

// publishJob loads one bot's job through the request's dataloader.
func (r *Resolver) publishJob(ctx context.Context, envName, botID string, refresh bool) (*model.PublishJob, error) {
	if _, err := r.ref(ctx, envName, botID); err != nil {
		return nil, err
	}
	key := loader.Key{Environment: envName, BotID: botID, Refresh: refresh}
	res, err := r.Jobs.For(ctx).Jobs.Load(ctx, key)()
	if err != nil {
		return nil, &BotError{Environment: envName, BotID: botID, Err: err}
	}
	if res.StaleReason != nil {
		warn(ctx, &BotError{Environment: envName, BotID: botID, Err: res.StaleReason})
	}
	if res.Job == nil {
		return nil, nil
	}
	return r.toModel(res), nil
}

func (r *Resolver) toModel(res loader.Result) *model.PublishJob {
	return &model.PublishJob{Job: res.Job, Freshness: model.Freshness{
		FetchedAt:  res.FetchedAt,
		AgeSeconds: ageSeconds(r.now(), res.FetchedAt),
		FromCache:  res.FromCache,
		Stale:      res.Stale,
	}}
}

// ageSeconds is how long before now fetchedAt was, in seconds rounded to the
// millisecond: a fresh answer is microseconds old, which a Float prints as
// 1.9751e-05, and no dashboard needs finer than a millisecond. Dividing whole
// milliseconds by 1000 gives the float nearest to the decimal, so it prints
// with at most 3 decimals. Never negative: replicas' clocks may disagree.
func ageSeconds(now, fetchedAt time.Time) float64 {
	ms := now.Sub(fetchedAt).Round(time.Millisecond).Milliseconds()
	return float64(max(ms, 0)) / 1000
}

// primeIfRequested loads every bot's job in one batch when the current
// field's selection asks for publishStatus, so that the field resolvers of
// the list find their answers ready; the list is then settled (lists.go).
func (r *Resolver) primeIfRequested(ctx context.Context, bots []*catalog.Bot) {
	refresh, ok, deferred := requestedPublishStatus(ctx)
	if !ok {
		markSettled(ctx) // nothing of the elements waits
		return
	}
	keys := make([]loader.Key, 0, len(bots))
	for _, b := range bots {
		if b != nil {
			keys = append(keys, loader.Key{Environment: b.Environment, BotID: b.ID, Refresh: refresh})
		}
	}
	if deferred {
		// @defer: the list itself must not wait for its jobs (they travel
		// in later payloads), nor share a batch with another list's.
		r.Jobs.For(ctx).PreloadInBackground(ctx, keys)
		markSettled(ctx) // the deferred fields wait in goroutines of their own
		return
	}
	r.Jobs.For(ctx).Preload(ctx, keys)
	markSettled(ctx)
}

// requestedPublishStatus reports whether the current field (a list of Bot)
// selects publishStatus, with which refresh argument, and whether every such
// selection is deferred (@defer). When several selections disagree, the
// plain one is primed.
func requestedPublishStatus(ctx context.Context) (refresh, ok, deferred bool) {
	oc := graphql.GetOperationContext(ctx)
	if oc == nil {
		return false, false, false
	}
	refresh, deferred = true, true
	for _, f := range graphql.CollectFieldsCtx(ctx, []string{"Bot"}) {
		if f.Name != "publishStatus" {
			continue
		}
		ok = true
		if v, isBool := f.ArgumentMap(oc.Variables)["refresh"].(bool); !isBool || !v {
			refresh = false
		}
		deferred = deferred && f.IsDeferred()
	}
	return refresh && ok, ok, deferred && ok
}

// loadAll loads the jobs of bots and returns one outcome per bot.
func (r *Resolver) loadAll(ctx context.Context, bots []catalog.Bot) []loader.Outcome {
	keys := make([]loader.Key, len(bots))
	for i, b := range bots {
		keys[i] = loader.Key{Environment: b.Environment, BotID: b.ID}
	}
	l := r.Jobs.For(ctx)
	l.Preload(ctx, keys)
	out := make([]loader.Outcome, len(bots))
	for i, k := range keys {
		out[i].Result, out[i].Err = l.Jobs.Load(ctx, k)()
	}
	return out
}

// summarise counts the states of bots.
func (r *Resolver) summarise(ctx context.Context, bots []catalog.Bot) *model.PublishSummary {
	s := &model.PublishSummary{Total: len(bots)}
	for _, o := range r.loadAll(ctx, bots) {
		switch {
		case o.Err != nil:
			s.Errors++
		case o.Result.Job == nil:
			s.NeverPublished++
		default:
			switch o.Result.Job.Status {
			case upstream.StateSuccessful:
				s.Successful++
			case upstream.StateFailed:
				s.Failed++
			case upstream.StateInProgress:
				s.InProgress++
			default:
				s.Unknown++
			}
		}
	}
	return s
}

// addErrorAt reports err at the current path extended by elems, without
// failing the field.
func addErrorAt(ctx context.Context, err error, elems ...ast.PathElement) {
	path := append(ast.Path{}, graphql.GetPath(ctx)...)
	path = append(path, elems...)
	graphql.AddError(ctx, &gqlerror.Error{Path: path, Err: err, Message: err.Error()})
}

// warnings collects the upstream failures hidden behind stale answers of one
// response; they are reported in extensions.warnings, not as errors, because
// the data is there.
type warnings struct {
	mu   sync.Mutex
	list []map[string]any
}

type warningsKey struct{}

func warn(ctx context.Context, err *BotError) {
	w, ok := ctx.Value(warningsKey{}).(*warnings)
	if !ok {
		return
	}
	entry := map[string]any{
		"path":        graphql.GetPath(ctx),
		"code":        Code(err),
		"environment": err.Environment,
		"botId":       err.BotID,
		"message":     "served stale: " + err.Error(),
	}
	if Code(err) == CodeUpstreamRateLimited {
		entry["retryAfterSeconds"] = retryAfterSeconds(err)
	}
	w.mu.Lock()
	w.list = append(w.list, entry)
	w.mu.Unlock()
}

// Warnings is a response middleware (handler.AroundResponses) that adds
// extensions.warnings to responses that served stale data.
func Warnings(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	w := &warnings{}
	resp := next(context.WithValue(ctx, warningsKey{}, w))
	if resp == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.list) > 0 {
		if resp.Extensions == nil {
			resp.Extensions = map[string]any{}
		}
		resp.Extensions["warnings"] = w.list
	}
	return resp
}
