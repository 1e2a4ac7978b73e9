package loader

import (
	"context"
	"net/http"

	"github.com/graph-gophers/dataloader/v7"
)

// Loaders are the dataloaders of one request. Their in-process cache holds
// futures for the life of the request only: values that outlive it belong
// in the job cache, behind Source.
type Loaders struct {
	// Jobs loads publish jobs by key.
	Jobs *dataloader.Loader[Key, Result]
}

// NewLoaders returns fresh loaders for one request.
func (s *Source) NewLoaders() *Loaders {
	batch := func(ctx context.Context, keys []Key) []*dataloader.Result[Result] {
		outs := s.Load(ctx, keys)
		res := make([]*dataloader.Result[Result], len(outs))
		for i, o := range outs {
			res[i] = &dataloader.Result[Result]{Data: o.Result, Error: o.Err}
		}
		return res
	}
	return &Loaders{Jobs: dataloader.NewBatchedLoader(batch,
		dataloader.WithWait[Key, Result](s.wait),
		dataloader.WithBatchCapacity[Key, Result](s.maxBatch),
		dataloader.WithInputCapacity[Key, Result](s.maxBatch),
	)}
}

// Prime starts loading keys in the current batch without waiting for them,
// so that the field resolvers that ask for them later find them already on
// their way. List resolvers that know all their keys call it.
func (l *Loaders) Prime(ctx context.Context, keys []Key) {
	for _, k := range keys {
		l.Jobs.Load(ctx, k)
	}
}

type ctxKey struct{}

// NewContext returns ctx carrying l.
func NewContext(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the loaders of ctx, if any.
func FromContext(ctx context.Context) (*Loaders, bool) {
	l, ok := ctx.Value(ctxKey{}).(*Loaders)
	return l, ok
}

// Middleware gives every request its own Loaders.
func Middleware(s *Source, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), s.NewLoaders())))
	})
}

// For returns the loaders of ctx, creating request-less ones when ctx has
// none (a subscription or a background job), so that callers never need to
// check.
func (s *Source) For(ctx context.Context) *Loaders {
	if l, ok := FromContext(ctx); ok {
		return l
	}
	return s.NewLoaders()
}
