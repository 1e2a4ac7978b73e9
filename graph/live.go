package graph

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/graph/model"
	"github.com/publishgate/publishgate/live"
	"github.com/publishgate/publishgate/publish"
)

// publishStatusChanged resolves Subscription.publishStatusChanged. Every ref
// passes the same checks as a query's (auth.Authorize, a known environment,
// a plausible bot ID); since a subscription has no index to put an error at,
// the first bad ref refuses the whole subscription.
func (r *Resolver) publishStatusChanged(ctx context.Context, refs []*model.BotRef) (<-chan *model.PublishStatusEvent, error) {
	if r.Live == nil {
		return nil, live.ErrClosed
	}
	keys := make([]live.Key, len(refs))
	for i, ref := range refs {
		if _, err := r.ref(ctx, ref.Environment, ref.BotID); err != nil {
			return nil, err
		}
		keys[i] = live.Key{Environment: ref.Environment, BotID: ref.BotID}
	}
	return live.Subscribe(ctx, r.Live, keys, r.toEvent)
}

// toEvent turns a hub event into the GraphQL event.
func (r *Resolver) toEvent(ev live.Event) *model.PublishStatusEvent {
	bot := &catalog.Bot{ID: ev.Key.BotID, Environment: ev.Key.Environment}
	if env, err := r.Catalog.Lookup(ev.Key.Environment); err == nil {
		b := env.Bot(ev.Key.BotID)
		bot = &b
	}
	out := &model.PublishStatusEvent{Bot: bot}
	switch {
	case ev.Outcome.Err != nil:
		out.Err = &BotError{Environment: ev.Key.Environment, BotID: ev.Key.BotID, Err: ev.Outcome.Err}
	case ev.Outcome.Result.Job != nil:
		out.Job = r.toModel(ev.Outcome.Result)
	}
	return out
}

// publishBot resolves Mutation.publishBot: the ref is checked like a query's,
// then the publisher checks the publish claim, deduplicates by idempotency
// key (the argument, else the Idempotency-Key header) and publishes.
func (r *Resolver) publishBot(ctx context.Context, envName, botID, comment string, training bool, idempotencyKey *string) (*model.PublishJob, error) {
	if _, err := r.ref(ctx, envName, botID); err != nil {
		return nil, err
	}
	if r.Publisher == nil {
		return nil, &BotError{Environment: envName, BotID: botID, Err: catalog.ErrUnknownEnvironment}
	}
	key := ""
	if idempotencyKey != nil {
		key = *idempotencyKey
	} else if oc := graphql.GetOperationContext(ctx); oc != nil && oc.Headers != nil {
		key = oc.Headers.Get("Idempotency-Key")
	}
	key = strings.TrimSpace(key)
	if len(key) > 200 {
		return nil, &BotError{Environment: envName, BotID: botID, Err: publish.ErrBadRequest}
	}
	res, err := r.Publisher.Publish(ctx, publish.Request{
		Environment: envName, BotID: botID, VersionComment: comment, InitiateTraining: training, IdempotencyKey: key,
	})
	if err != nil {
		return nil, &BotError{Environment: envName, BotID: botID, Err: err}
	}
	if res.Job == nil {
		return nil, nil
	}
	return r.toModel(res), nil
}
